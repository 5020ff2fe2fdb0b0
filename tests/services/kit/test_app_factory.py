from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h2.config
import h2.connection
import h2.errors
import h2.events
import httpx
import orjson
import pytest
from fastapi import APIRouter, FastAPI, Request
from pydantic import BaseModel, SecretStr

from services.datasets.settings import DatasetsSettings
from services.kit.app_factory import create_service_app
from services.kit.errors import ApiError
from services.kit.server import ServerName
from tests.support import backends
from tests.support.apps import running_app
from tests.support.logs import access_lines, json_lines
from tests.support.servers import free_port, serve_app
from tests.support.service_keys import production_keys
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


async def test_bodies_over_the_limit_without_content_length_are_413(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/items", content=_chunked_body())

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert response.json()["error"]["details"] == {"max_bytes": 1024}
    assert response.headers["x-request-id"]


@pytest.mark.parametrize("http_version", ["HTTP/1.1", "HTTP/2"])
@pytest.mark.parametrize("server", ["granian", "hypercorn"])
async def test_a_streamed_body_over_the_limit_is_413_over_a_real_server(
    tmp_path: Path, http_version: str, server: ServerName
) -> None:
    app = _app(tmp_path, max_request_body_bytes=1024)
    async with serve_app(app, server=server) as url:
        if server == "granian" and http_version == "HTTP/2":
            # Granian answers, then ends the refused stream with RST_STREAM(NO_ERROR), as RFC
            # 9113 8.1 allows. Phones' HTTP stacks keep such an answer; httpx's h2 client (and
            # curl 7.88, at times) fail the request instead, so the frames are checked here.
            refused, after = await _raw_h2_refusal(url)
        else:
            async with httpx.AsyncClient(
                base_url=url, http1=http_version == "HTTP/1.1", http2=http_version == "HTTP/2"
            ) as http:
                refused = _Answer.of(await http.post("/items", content=_chunked_body()))
                after = _Answer.of(await http.post("/items", json={"name": "x", "count": 1}))
        async with httpx.AsyncClient(base_url=url) as http:
            metrics = (await http.get("/metrics")).text

    assert refused.http_version == http_version
    assert refused.status == 413
    error = orjson.loads(refused.body)["error"]
    assert error["code"] == "PAYLOAD_TOO_LARGE"
    assert error["user_message"] == "That is too large."
    assert refused.request_id
    assert (after.status, after.http_version) == (200, http_version)
    assert 'route="/items",status="413"} 1.0' in metrics


@dataclass(frozen=True)
class _Answer:
    status: int
    http_version: str
    request_id: str
    body: bytes

    @classmethod
    def of(cls, response: httpx.Response) -> _Answer:
        return cls(
            response.status_code,
            response.http_version,
            response.headers["x-request-id"],
            response.content,
        )


async def _raw_h2_refusal(url: str) -> tuple[_Answer, _Answer]:
    """Over one h2c connection: stream 1 sends 1 MB of body without a length while it reads
    the answer; stream 3 is a small request sent after stream 1 ended."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()

    def request(stream_id: int) -> None:
        conn.send_headers(
            stream_id,
            [(":method", "POST"), (":path", "/items"), (":scheme", "http"),
             (":authority", host), ("content-type", "application/json")],
        )  # fmt: skip

    answers: dict[int, dict[str, Any]] = {1: {"body": b""}, 3: {"body": b""}}
    request(1)
    sent = 0
    deadline = asyncio.get_running_loop().time() + 10
    while "ended" not in answers[3]:
        assert asyncio.get_running_loop().time() < deadline, f"no answers yet: {answers}"
        if "reset" not in answers[1] and sent < 1_000_000 and conn.local_flow_control_window(1):
            size = min(16_384, conn.local_flow_control_window(1))
            conn.send_data(1, b" " * size)
            sent += size
        writer.write(conn.data_to_send())
        await writer.drain()
        try:
            data = await asyncio.wait_for(reader.read(65_536), 0.01)
        except TimeoutError:
            continue
        assert data, "the server closed the connection"
        for event in conn.receive_data(data):
            answer = answers.get(getattr(event, "stream_id", 0))
            if isinstance(event, h2.events.ResponseReceived) and answer is not None:
                answer["headers"] = {k.decode(): v.decode() for k, v in event.headers}
            elif isinstance(event, h2.events.DataReceived) and answer is not None:
                answer["body"] += event.data
                conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded) and answer is not None:
                answer["ended"] = True
                if event.stream_id == 1:
                    assert "reset" not in answer  # the whole answer came before the reset
            elif isinstance(event, h2.events.StreamReset) and event.stream_id == 1:
                assert event.error_code == h2.errors.ErrorCodes.NO_ERROR
                answers[1]["reset"] = True
                request(3)
                conn.send_data(3, b'{"name": "x", "count": 1}', end_stream=True)
    writer.close()
    assert answers[1].get("ended") and answers[1].get("reset")
    return tuple(  # type: ignore[return-value]
        _Answer(
            int(answers[n]["headers"][":status"]),
            "HTTP/2",
            answers[n]["headers"]["x-request-id"],
            answers[n]["body"],
        )
        for n in (1, 3)
    )


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


async def test_production_serves_no_api_documents_and_metrics_only_with_the_token(
    tmp_path: Path,
) -> None:
    production = {
        "environment": "production",
        "metrics_token": SecretStr("m" * 32),
        **production_keys("datasets"),
    }
    async with running_app(_app(tmp_path, **production)) as c:
        documents = [(await c.get(path)).status_code for path in ("/openapi.json", "/docs")]
        metrics = await c.get("/metrics")
    async with running_app(_app(tmp_path / "test")) as c:
        in_test = (await c.get("/openapi.json")).status_code

    assert documents == [404, 404]
    assert metrics.status_code == 401
    assert in_test == 200


async def test_a_taken_port_is_refused_not_shared(tmp_path: Path) -> None:
    async with serve_app(_app(tmp_path / "first")) as url:
        port = int(url.rsplit(":", 1)[1])
        with pytest.raises(OSError, match=r"cannot listen on 127\.0\.0\.1"):
            async with serve_app(_app(tmp_path / "second"), port=port):
                pass
