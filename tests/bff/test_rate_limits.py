"""Per-device and per-user sliding windows per route class: headers, then 429."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bff.app import create_app
from bff.rate_limits import Limit, route_class
from bff.settings import BffSettings
from tests.support.apps import running_app
from tests.support.bff_accounts import bearer, bff_settings, sign_up

_LIMITS = {"auth": "4/60", "read": "3/60", "write": "10/60", "batch": "2/60"}


@pytest.fixture
def settings(tmp_path: Path) -> BffSettings:
    return bff_settings(tmp_path, rate_limits=_LIMITS)


@pytest.fixture
async def client(settings: BffSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(create_app(settings)) as http:
        yield http


async def test_headers_count_down_then_429_with_retry_after(client: httpx.AsyncClient) -> None:
    device = {"X-Device-ID": "phone-1"}
    answers = [await client.get("/api/v1/app-config", headers=device) for _ in range(4)]

    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["x-ratelimit-remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert answers[0].headers["x-ratelimit-limit"] == "3"
    limited = answers[-1]
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    error = limited.json()["error"]
    assert error["code"] == "RATE_LIMITED"
    assert error["retry"] == {"allowed": True, "after_seconds": int(limited.headers["retry-after"])}
    other_device = await client.get("/api/v1/app-config", headers={"X-Device-ID": "phone-2"})
    assert other_device.status_code == 200


async def test_a_user_is_limited_across_devices(client: httpx.AsyncClient) -> None:
    tokens = await sign_up(client, device_id="phone-1")
    statuses = [
        (
            await client.get("/api/v1/me", headers={**bearer(tokens), "X-Device-ID": f"d{i}"})
        ).status_code
        for i in range(4)
    ]

    assert statuses == [200, 200, 200, 429]


async def test_a_request_refused_for_its_device_does_not_spend_the_users_quota(
    client: httpx.AsyncClient,
) -> None:
    tokens = await sign_up(client, device_id="noisy")
    for _ in range(3):  # the noisy device uses up its own window before signing in
        assert (await client.get("/api/v1/app-config", headers={"X-Device-ID": "noisy"})).is_success

    noisy = [
        (await client.get("/api/v1/me", headers={**bearer(tokens), "X-Device-ID": "noisy"}))
        for _ in range(5)
    ]
    quiet = [
        (await client.get("/api/v1/me", headers={**bearer(tokens), "X-Device-ID": "quiet"}))
        for _ in range(4)
    ]

    assert [r.status_code for r in noisy] == [429] * 5
    assert [r.status_code for r in quiet] == [200, 200, 200, 429]
    assert [r.headers["x-ratelimit-remaining"] for r in quiet] == ["2", "1", "0", "0"]


async def test_route_classes_have_their_own_windows(client: httpx.AsyncClient) -> None:
    device = {"X-Device-ID": "phone-1"}
    for _ in range(3):
        await client.get("/api/v1/app-config", headers=device)

    auth = await client.post(
        "/api/v1/auth/login", json={"email": "a@example.com", "password": "x"}, headers=device
    )

    assert auth.status_code == 401
    assert auth.headers["x-ratelimit-limit"] == "4"


def test_route_classes_and_limits() -> None:
    assert route_class("POST", "/api/v1/auth/login") == "auth"
    assert route_class("GET", "/api/v1/datasets") == "read"
    assert route_class("PUT", "/api/v1/uploads/x/chunks/0") == "upload"
    assert route_class("POST", "/api/v1/uploads/x/complete") == "write"
    assert route_class("POST", "/api/v1/batch") == "batch"
    assert route_class("POST", "/graphql") == "graphql"
    assert Limit.parse("300/60") == Limit(300, 60.0)
    with pytest.raises(ValueError, match="positive"):
        Limit.parse("0/60")


async def test_the_limit_holds_across_replicas_sharing_redis(
    tmp_path: Path, shared_redis: str
) -> None:
    replicas = [
        create_app(bff_settings(tmp_path / name, rate_limits=_LIMITS, redis_url=shared_redis))
        for name in ("a", "b")
    ]
    device = {"X-Device-ID": "phone-1"}
    async with running_app(replicas[0]) as a, running_app(replicas[1]) as b:
        # A load balancer spreads one phone's requests over both replicas.
        answers = [await (a, b)[n % 2].get("/api/v1/app-config", headers=device) for n in range(4)]
        # Once one replica has refused, the other refuses too: the window is one.
        other = await b.get("/api/v1/app-config", headers=device)

    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    assert [r.headers["x-ratelimit-remaining"] for r in answers] == ["2", "1", "0", "0"]
    assert other.status_code == 429
    assert other.json()["error"]["code"] == "RATE_LIMITED"
