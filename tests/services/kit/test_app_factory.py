from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel

from services.datasets.settings import DatasetsSettings
from services.kit.app_factory import create_service_app
from services.kit.errors import ApiError
from tests.support.apps import running_app
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


async def test_health_and_ready(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health")).json() == {"status": "ok", "service": "datasets"}
    ready = await client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok"}


async def test_metrics_can_require_a_token(tmp_path: Path) -> None:
    async with running_app(_app(tmp_path, metrics_token="m" * 20)) as c:
        assert (await c.get("/metrics")).status_code == 401
        ok = await c.get("/metrics", headers={"authorization": "Bearer " + "m" * 20})
        assert ok.status_code == 200
