"""GET /api/v1/dashboard with one service up, one hanging and two down."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from fastapi import FastAPI

from bff.app import create_app as create_bff
from services.datasets.app import create_app as create_datasets
from services.datasets.settings import DatasetsSettings
from services.notifications.app import create_app as create_notifications
from services.notifications.settings import NotificationsSettings
from tests.support.apps import service_headers
from tests.support.bff_accounts import bearer, bff_settings, sign_up
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


async def test_the_notifications_section_is_the_newest_unread_ones_even_under_read_ones(
    tmp_path: Path,
) -> None:
    notifications = make_settings(
        NotificationsSettings, tmp_path / "notifications", fcm_enabled=False, apns_enabled=False
    )
    async with serve_app(create_notifications(notifications)) as url:
        bff = create_bff(
            bff_settings(tmp_path / "bff", notifications_url=url, dashboard_page_size=2)
        )
        async with (
            serve_app(bff) as bff_url,
            httpx.AsyncClient(base_url=bff_url) as client,
            httpx.AsyncClient(base_url=url) as service,
        ):
            tokens = await sign_up(client)
            auth = bearer(tokens)
            as_user = service_headers("notifications", tokens["user"]["id"])
            ids = []
            for i in range(6):  # ids[5] is the newest
                sent = await service.post(
                    "/internal/v1/send",
                    json={"title": f"Job {i} done", "idempotency_key": f"job-{i}"},
                    headers=as_user,
                )
                ids.append(sent.json()["notification_id"])
            # The three newest are read: a first page of all notifications has no unread one.
            read = await client.post(
                "/api/v1/notifications/read", json={"ids": ids[3:]}, headers=auth
            )
            assert read.json() == {"updated": 3, "unread": 3}

            dashboard = (await client.get("/api/v1/dashboard", headers=auth)).json()
            section = dashboard["notifications"]
            more = await client.get(
                "/api/v1/notifications",
                params={"unread": "true", "cursor": section["next_cursor"]},
                headers=auth,
            )

    assert section["error"] is None
    assert [n["id"] for n in section["items"]] == [ids[2], ids[1]]
    assert dashboard["unread_count"] == 3
    # The section's cursor goes on through unread ones only.
    assert [n["id"] for n in more.json()["items"]] == [ids[0]]
    assert more.json()["next_cursor"] is None
