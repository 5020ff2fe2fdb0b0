"""The operator's reads across users: a topic's audience (a broadcast's dry run) and the
pushes given up on, for the BFF only."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from services.kit.database import Database
from services.notifications.app import create_app
from services.notifications.settings import NotificationsSettings
from services.notifications.tables import DeliveryRow
from tests.support.apps import running_app, service_headers
from tests.support.settings import make_settings


def as_bff() -> dict[str, str]:
    """The BFF's service token, minted when the call is made (a module's constant would
    expire before a long suite reaches it)."""
    return service_headers("notifications")


@pytest.fixture
def settings(tmp_path: Path) -> NotificationsSettings:
    return make_settings(NotificationsSettings, tmp_path, fcm_enabled=False, apns_enabled=False)


@pytest.fixture
async def client(settings: NotificationsSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(create_app(settings)) as http:
        yield http


async def _follow(client: httpx.AsyncClient, user: str, device: str, topic: str) -> None:
    headers = service_headers("notifications", user)
    registered = await client.put(
        f"/internal/v1/devices/{device}",
        json={"token": f"token-{user}-{device}", "platform": "android"},
        headers=headers,
    )
    assert registered.status_code == 200, registered.text
    followed = await client.put(f"/internal/v1/devices/{device}/topics/{topic}", headers=headers)
    assert followed.status_code == 200, followed.text


async def test_audience_counts_the_devices_following_a_topic(client: httpx.AsyncClient) -> None:
    await _follow(client, "user-a", "phone", "news")
    await _follow(client, "user-a", "tablet", "news")
    await _follow(client, "user-b", "phone", "news")
    await _follow(client, "user-b", "phone", "sports")

    news = await client.get("/internal/v1/topics/news/audience", headers=as_bff())
    nobody = await client.get("/internal/v1/topics/weather/audience", headers=as_bff())

    assert news.json() == {"topic": "news", "devices": 3, "at_least": False}
    assert nobody.json() == {"topic": "weather", "devices": 0, "at_least": False}


async def test_only_the_bff_may_read_across_users(client: httpx.AsyncClient) -> None:
    as_training = service_headers("notifications", caller="training")

    audience = await client.get("/internal/v1/topics/news/audience", headers=as_training)
    dead = await client.get("/internal/v1/deliveries/dead", headers=as_training)
    anonymous = await client.get("/internal/v1/deliveries/dead")

    assert audience.status_code == dead.status_code == 403
    assert dead.json()["error"]["code"] == "SERVICE_CALLER_NOT_ALLOWED"
    assert anonymous.status_code == 401


async def test_a_bad_topic_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.get("/internal/v1/topics/no%20spaces/audience", headers=as_bff())

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "INVALID_TOPIC"


async def test_dead_deliveries_newest_first_one_status_at_a_time(
    client: httpx.AsyncClient, settings: NotificationsSettings
) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    db = Database(settings.sqlalchemy_url)
    rows = [
        _delivery("failed", start + timedelta(minutes=i), f"user-{i}", "ProviderDown")
        for i in range(3)
    ] + [
        _delivery("invalid_token", start, "user-x", "BadDeviceToken"),
        _delivery("sent", start, "user-y", None),
        _delivery("pending", start, "user-z", "Retry"),
    ]
    async with db.transaction() as session:
        session.add_all(rows)
    await db.dispose()

    first = await client.get("/internal/v1/deliveries/dead?limit=2", headers=as_bff())
    rest = await client.get(
        f"/internal/v1/deliveries/dead?limit=2&cursor={first.json()['next_cursor']}",
        headers=as_bff(),
    )
    tokens = await client.get("/internal/v1/deliveries/dead?status=invalid_token", headers=as_bff())
    wrong = await client.get("/internal/v1/deliveries/dead?status=sent", headers=as_bff())

    assert [d["owner_id"] for d in first.json()["items"]] == ["user-2", "user-1"]
    assert [d["owner_id"] for d in rest.json()["items"]] == ["user-0"]
    assert rest.json()["next_cursor"] is None
    assert first.json()["items"][0]["last_error"] == "ProviderDown"
    assert [d["owner_id"] for d in tokens.json()["items"]] == ["user-x"]
    assert wrong.status_code == 422


def _delivery(status: str, at: datetime, owner: str, error: str | None) -> DeliveryRow:
    return DeliveryRow(
        id=uuid.uuid4(),
        notification_id=uuid.uuid4(),
        source="user",
        device_pk=uuid.uuid4(),
        owner_id=owner,
        platform="ios",
        status=status,
        attempts=5,
        next_attempt_at=at,
        last_error=error,
        created_at=at - timedelta(minutes=30),
        updated_at=at,
    )
