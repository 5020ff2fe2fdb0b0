from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request
from pydantic import BaseModel

from services.datasets.settings import DatasetsSettings
from services.kit import h2_protocol
from services.kit.app_factory import create_service_app
from services.kit.errors import ApiError
from tests.support import backends
from tests.support.apps import running_app
from tests.support.logs import access_lines, json_lines
from tests.support.servers import free_port, serve_app
from tests.support.settings import make_settings


class Item(BaseModel):
    name: str
    count: int


def _app(tmp_path: Path, **overrides: object) -> FastAPI:
    settings = make_settings(DatasetsSettings, tmp_path, **overrides)
    app = create_service_app(settings, title="test", migrations_dir=None)

    @app.get("/items/{item_id}")
    async def get_item(item_id: int) -> dict[str, int]:
        if item_id == 0:
            raise ApiError(409, "ITEM_CONFLICT", "item 0 is busy")
        if item_id == 1:
            raise RuntimeError("boom")
        return {"id": item_id}

    @app.post("/items")
    async def create_item(item: Item) -> Item:
        return item

    nested = APIRouter(prefix="/internal/v1")
    things = APIRouter(prefix="/things")

    @things.get("/{thing_id}")
    async def get_thing(thing_id: int) -> dict[str, int]:
        return {"id": thing_id}

    nested.include_router(things)
    app.include_router(nested)
    return app


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(_app(tmp_path, max_request_body_bytes=1024)) as c:
        yield c


async def test_errors_use_the_mobile_error_body(client: httpx.AsyncClient) -> None:
    response = await client.get("/items/0")
    assert response.status_code == 409
    assert response.json() == {
        "error": {
            "code": "ITEM_CONFLICT",
            "message": "item 0 is busy",
            "user_message": "This changed somewhere else. Refresh and try again.",
            "action": "none",
            "retry": {"allowed": False, "after_seconds": None},
        }
    }


async def test_unexpected_errors_are_a_500_without_internals(client: httpx.AsyncClient) -> None:
    response = await client.get("/items/1")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "INTERNAL_ERROR"
    assert "boom" not in response.text


async def test_validation_errors_name_the_fields(client: httpx.AsyncClient) -> None:
    response = await client.post("/items", json={"name": "x", "count": "many"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_FAILED"
    assert error["action"] == "fix_input"
    assert [f["field"] for f in error["details"]["fields"]] == ["count"]


async def test_request_id_is_echoed_or_generated(client: httpx.AsyncClient) -> None:
    given = await client.get("/items/5", headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    generated = await client.get("/items/5")
    assert len(generated.headers["x-request-id"]) == 32
    hostile = await client.get("/items/5", headers={"X-Request-ID": "x" * 500})
    assert hostile.headers["x-request-id"] != "x" * 500


async def test_bodies_over_the_limit_are_413(client: httpx.AsyncClient) -> None:
    response = await client.post("/items", content=b"{" + b" " * 2000 + b"}")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


async def _chunked_body(chunks: int = 64, size: int = 16384) -> AsyncIterator[bytes]:
    # A generator body has no Content-Length: httpx sends it chunked (HTTP/1.1) or as DATA frames.
    yield b"{"
    for _ in range(chunks):
        yield b" " * size
    yield b"}"


@pytest.fixture
def safe_h2() -> Iterator[None]:
    import hypercorn.protocol

    original = hypercorn.protocol.H2Protocol  # type: ignore[attr-defined]
    h2_protocol.install()
    yield
    hypercorn.protocol.H2Protocol = original  # type: ignore[attr-defined]


async def test_bodies_over_the_limit_without_content_length_are_413(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/items", content=_chunked_body())

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert response.json()["error"]["details"] == {"max_bytes": 1024}
    assert response.headers["x-request-id"]


@pytest.mark.parametrize("http_version", ["HTTP/1.1", "HTTP/2"])
async def test_a_streamed_body_over_the_limit_is_413_over_a_real_server(
    tmp_path: Path, safe_h2: None, http_version: str
) -> None:
    app = _app(tmp_path, max_request_body_bytes=1024)
    async with (
        serve_app(app) as url,
        httpx.AsyncClient(
            base_url=url, http1=http_version == "HTTP/1.1", http2=http_version == "HTTP/2"
        ) as http,
    ):
        refused = await http.post("/items", content=_chunked_body())
        after = await http.post("/items", json={"name": "x", "count": 1})
        metrics = (await http.get("/metrics")).text

    assert refused.http_version == http_version
    assert refused.status_code == 413
    error = refused.json()["error"]
    assert error["code"] == "PAYLOAD_TOO_LARGE"
    assert error["user_message"] == "That is too large."
    assert refused.headers["x-request-id"]
    assert (after.status_code, after.http_version) == (200, http_version)
    assert 'route="/items",status="413"} 1.0' in metrics


async def test_a_refused_stream_never_completes_in_the_app(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = _app(tmp_path, max_request_body_bytes=1024)
    completed: list[int] = []

    @app.put("/blobs")
    async def put_blob(request: Request) -> dict[str, int]:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
        completed.append(size)
        return {"size": size}

    async with running_app(app) as http:
        refused = await http.put("/blobs", content=_chunked_body())
        small = await http.put("/blobs", content=_chunked_body(chunks=1, size=100))

    assert refused.status_code == 413
    assert refused.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert small.json() == {"size": 102}
    assert completed == [102]
    logged = capsys.readouterr().out
    assert [line["status"] for line in access_lines(logged, route="/blobs")] == [413, 200]
    assert json_lines(logged, level="error") == []  # a refused body is not an app failure


async def test_metrics_label_routes_by_template_not_raw_path(client: httpx.AsyncClient) -> None:
    for item_id in (5, 6, 7):
        await client.get(f"/items/{item_id}")
    metrics = (await client.get("/metrics")).text
    assert 'route="/items/{item_id}",status="200"} 3.0' in metrics
    assert "/items/5" not in metrics
    await client.get("/internal/v1/things/9")
    metrics = (await client.get("/metrics")).text
    assert 'route="/internal/v1/things/{thing_id}",status="200"} 1.0' in metrics
    assert "tern_http_response_size_bytes" in metrics


async def test_metrics_count_unknown_methods_as_other(client: httpx.AsyncClient) -> None:
    for method in ("FOOBAR", "BREW", "PATCH", "GET"):
        await client.request(method, "/items/5")

    metrics = (await client.get("/metrics")).text

    assert 'method="OTHER",route="/items/{item_id}",status="405"} 2.0' in metrics
    assert 'method="PATCH",route="/items/{item_id}",status="405"} 1.0' in metrics
    assert 'method="GET",route="/items/{item_id}",status="200"} 1.0' in metrics
    assert "FOOBAR" not in metrics and "BREW" not in metrics


async def test_health_and_ready(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health")).json() == {"status": "ok", "service": "datasets"}
    ready = await client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok"}


def _nothing_listens(scheme: str) -> str:
    return f"{scheme}://127.0.0.1:{free_port()}/0"


@pytest.mark.parametrize(
    ("overrides", "failed"),
    [
        ({"database_url": _nothing_listens("postgresql")}, ["database"]),
        ({"redis_url": _nothing_listens("redis")}, ["redis"]),
        (
            {
                "database_url": _nothing_listens("postgresql"),
                "redis_url": _nothing_listens("redis"),
            },
            ["database", "redis"],
        ),
    ],
)
async def test_ready_names_each_dependency_that_does_not_answer(
    tmp_path: Path, overrides: dict[str, str], failed: list[str]
) -> None:
    async with running_app(_app(tmp_path, **overrides)) as c:
        health = await c.get("/health")
        ready = await c.get("/ready")

    assert health.status_code == 200  # alive: only readiness depends on the others
    assert ready.status_code == 503
    assert int(ready.headers["retry-after"]) >= 1
    error = ready.json()["error"]
    assert error["code"] == "NOT_READY"
    assert error["retry"]["allowed"] is True
    assert error["details"]["failed"] == failed
    assert all(name in error["message"] for name in failed)
    checks = error["details"]["checks"]
    # Redis is checked only where one is configured; the SQLite default always answers.
    assert set(checks) == {"database"} | ({"redis"} if "redis_url" in overrides else set())
    assert {name for name, outcome in checks.items() if outcome != "ok"} == set(failed)


@pytest.mark.skipif(not backends.redis_admin_url(), reason="TEST_REDIS_URL not set")
async def test_ready_checks_a_configured_redis_that_answers(tmp_path: Path) -> None:
    url = backends.claim_redis_database(backends.redis_admin_url() or "")
    try:
        async with running_app(_app(tmp_path, redis_url=url)) as c:
            ready = await c.get("/ready")
    finally:
        backends.flush_redis_database(url)

    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "redis": "ok"}


async def test_metrics_can_require_a_token(tmp_path: Path) -> None:
    async with running_app(_app(tmp_path, metrics_token="m" * 20)) as c:
        assert (await c.get("/metrics")).status_code == 401
        ok = await c.get("/metrics", headers={"authorization": "Bearer " + "m" * 20})
        assert ok.status_code == 200
