"""POST /api/v1/batch: in-process sub-requests, each with its own auth, limits and answer."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from bff.app import create_app
from tests.support.apps import running_app
from tests.support.bff_accounts import bearer, bff_settings, sign_up
from tests.support.logs import access_lines


async def test_each_item_answers_its_own_status_and_body(client: httpx.AsyncClient) -> None:
    tokens = await sign_up(client)

    response = await client.post(
        "/api/v1/batch",
        json={
            "requests": [
                {"id": "me", "path": "/api/v1/me?fields=email"},
                {"id": "config", "path": "/api/v1/app-config"},
                {"id": "nope", "path": "/api/v1/sessions/not-a-uuid", "method": "DELETE"},
                {
                    "id": "other",
                    "path": "/api/v1/me",
                    "headers": {"authorization": "Bearer forged"},
                },
            ]
        },
        headers=bearer(tokens),
    )

    assert response.status_code == 200
    answers = {a["id"]: a for a in response.json()["responses"]}
    assert answers["me"]["status"] == 200
    assert answers["me"]["body"] == {"email": "ada@example.com"}
    assert answers["me"]["headers"]["etag"]
    assert answers["config"]["body"]["maintenance"] == {"enabled": False, "message": None}
    assert answers["nope"]["status"] == 422
    assert answers["other"]["status"] == 401
    assert answers["other"]["body"]["error"]["code"] == "TOKEN_INVALID"


async def test_without_a_token_each_item_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/batch", json={"requests": [{"id": "a", "path": "/api/v1/me"}]}
    )

    answer = response.json()["responses"][0]
    assert answer["status"] == 401
    assert answer["body"]["error"]["code"] == "AUTH_REQUIRED"


async def test_sequential_items_run_in_order(client: httpx.AsyncClient) -> None:
    tokens = await sign_up(client)

    response = await client.post(
        "/api/v1/batch",
        json={
            "sequential": True,
            "requests": [
                {"id": "before", "path": "/api/v1/me"},
                {"id": "out", "path": "/api/v1/auth/logout-all", "method": "POST"},
                {"id": "after", "path": "/api/v1/me"},
            ],
        },
        headers=bearer(tokens),
    )

    statuses = [a["status"] for a in response.json()["responses"]]
    assert statuses == [200, 204, 401]


async def test_nesting_and_foreign_paths_are_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/batch",
        json={
            "requests": [
                {"id": "nested", "path": "/api/v1/batch", "method": "POST", "body": {}},
                {"id": "metrics", "path": "/metrics"},
            ]
        },
    )

    codes = [a["body"]["error"]["code"] for a in response.json()["responses"]]
    assert codes == ["BATCH_NESTED", "BATCH_PATH_INVALID"]


async def test_batch_size_and_ids_are_limited(tmp_path: Path) -> None:
    settings = bff_settings(tmp_path, batch_max_requests=2)
    async with running_app(create_app(settings)) as client:
        items = [{"id": str(i), "path": "/api/v1/app-config"} for i in range(3)]
        too_many = await client.post("/api/v1/batch", json={"requests": items})
        twins = await client.post("/api/v1/batch", json={"requests": [items[0], items[0]]})

    assert too_many.status_code == 422
    assert too_many.json()["error"]["code"] == "BATCH_TOO_LARGE"
    assert twins.json()["error"]["code"] == "BATCH_DUPLICATE_IDS"


async def test_rate_limits_apply_per_item(tmp_path: Path) -> None:
    limits = {"auth": "10/60", "read": "2/60", "write": "10/60", "batch": "10/60"}
    async with running_app(create_app(bff_settings(tmp_path, rate_limits=limits))) as client:
        items = [{"id": str(i), "path": "/api/v1/app-config"} for i in range(3)]
        response = await client.post(
            "/api/v1/batch",
            json={"requests": items, "sequential": True},
            headers={"X-Device-ID": "phone-1"},
        )

    answers = response.json()["responses"]
    assert [a["status"] for a in answers] == [200, 200, 429]
    assert answers[2]["headers"]["retry-after"]
    assert response.headers["x-ratelimit-limit"] == "10"


async def test_sub_requests_are_child_spans_of_the_batch_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    phone_span = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    # The app starts in the test, so that its log handler writes to the captured stdout.
    async with running_app(create_app(bff_settings(tmp_path))) as client:
        tokens = await sign_up(client)
        response = await client.post(
            "/api/v1/batch",
            json={"requests": [{"id": "me", "path": "/api/v1/me"}]},
            headers={**bearer(tokens), "traceparent": phone_span, "X-Request-ID": "req-batch"},
        )

    assert response.status_code == 200
    logged = capsys.readouterr().out
    [batch] = access_lines(logged, request_id="req-batch")
    [sub] = access_lines(logged, route="/api/v1/me")
    assert batch["trace_id"] == sub["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert batch["parent_span_id"] == "00f067aa0ba902b7"
    assert sub["parent_span_id"] == batch["span_id"]


async def test_a_header_that_is_not_ascii_refuses_its_item_only(client: httpx.AsyncClient) -> None:
    tokens = await sign_up(client)

    response = await client.post(
        "/api/v1/batch",
        json={
            "requests": [
                {"id": "euro", "path": "/api/v1/me", "headers": {"x-a": "€"}},
                {"id": "me", "path": "/api/v1/me"},
            ]
        },
        headers=bearer(tokens),
    )

    assert response.status_code == 200
    answers = {a["id"]: a for a in response.json()["responses"]}
    assert answers["euro"]["status"] == 400
    assert answers["euro"]["body"]["error"]["code"] == "BATCH_HEADER_INVALID"
    assert answers["me"]["status"] == 200
