"""GET /api/v1/dashboard with one service up, one hanging and two down."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from fastapi import FastAPI

from bff.app import create_app as create_bff
from services.datasets.app import create_app as create_datasets
from services.datasets.settings import DatasetsSettings
from tests.bff.conftest import bearer, bff_settings, sign_up
from tests.support.servers import free_port, serve_app
from tests.support.settings import make_settings


def _hanging_training() -> FastAPI:
    app = FastAPI()

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/internal/v1/jobs")
    async def jobs() -> dict[str, object]:
        await asyncio.sleep(10)
        return {"items": []}

    return app


async def test_failed_sections_carry_errors_and_the_last_good_copy(tmp_path: Path) -> None:
    datasets_port = free_port()
    datasets = make_settings(DatasetsSettings, tmp_path / "datasets", log_json=False)
    async with serve_app(_hanging_training()) as training_url:
        bff = create_bff(
            bff_settings(
                tmp_path / "bff",
                datasets_url=f"http://127.0.0.1:{datasets_port}",
                training_url=training_url,
                dashboard_section_timeout_s=1.5,
                breaker_failure_threshold=100,
            )
        )
        async with serve_app(bff) as bff_url, httpx.AsyncClient(base_url=bff_url) as client:
            auth = bearer(await sign_up(client))
            async with serve_app(create_datasets(datasets), port=datasets_port):
                first = await client.get("/api/v1/dashboard", headers=auth)
            second = await client.get("/api/v1/dashboard", headers=auth)

    assert first.status_code == 200
    assert "stale-while-revalidate" in first.headers["cache-control"]
    body = first.json()
    assert body["datasets"] == {
        "items": [],
        "next_cursor": None,
        "error": None,
        "stale": False,
        "age_s": None,
    }
    assert body["jobs"]["error"]["code"] == "SECTION_TIMEOUT"
    assert body["models"]["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert body["notifications"]["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert body["unread_count"] is None
    later = second.json()["datasets"]
    assert later["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert later["stale"] is True
    assert later["items"] == [] and later["age_s"] >= 0
    assert second.json()["models"]["stale"] is False


async def test_the_dashboard_needs_a_signed_in_user(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/dashboard")

    assert response.status_code == 401
