"""The notifications service in-process, pushing to the fake provider served on a free port."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from services.fake_push.app import create_app as create_fake_push
from services.fake_push.settings import FakePushSettings
from services.kit.database import Database
from services.notifications.app import create_app
from services.notifications.settings import NotificationsSettings
from services.notifications.tables import DeliveryRow, metadata
from tests.support.apps import running_app, service_headers
from tests.support.backends import (
    create_postgres_database,
    drop_postgres_database,
    postgres_admin_url,
)
from tests.support.servers import serve_app
from tests.support.settings import make_settings

USER_A = "user-a"
USER_B = "user-b"


@dataclass
class Harness:
    """The service under test, its fake provider, and helpers to drive both."""

    app: FastAPI
    client: httpx.AsyncClient
    fake: httpx.AsyncClient

    def headers(self, user: str = USER_A) -> dict[str, str]:
        return service_headers("notifications", user)

    async def register(
        self, device_id: str, token: str, platform: str, user: str = USER_A
    ) -> httpx.Response:
        response = await self.client.put(
            f"/internal/v1/devices/{device_id}",
            json={"token": token, "platform": platform, "app_version": "1.4.0"},
            headers=self.headers(user),
        )
        assert response.status_code == 200, response.text
        return response

    async def send(self, user: str = USER_A, **fields: Any) -> httpx.Response:
        body = {"title": "Model ready", "idempotency_key": "k-1", **fields}
        return await self.client.post("/internal/v1/send", json=body, headers=self.headers(user))

    async def received(self, **params: str) -> list[dict[str, Any]]:
        response = await self.fake.get("/_fake/received", params=params)
        result: list[dict[str, Any]] = response.json()
        return result

    async def fail_next(self, platform: str, status: int, reason: str, **extra: Any) -> None:
        body = {"platform": platform, "status": status, "reason": reason, **extra}
        assert (await self.fake.post("/_fake/failures", json=body)).status_code == 201

    async def delivery_statuses(self) -> list[tuple[str, str | None]]:
        async with self.app.state.runtime.db.session() as session:
            rows = await session.execute(
                sa.select(DeliveryRow.status, DeliveryRow.last_error).order_by(
                    DeliveryRow.created_at
                )
            )
            return [(status, error) for status, error in rows.all()]

    async def device_ids(self, user: str = USER_A) -> list[str]:
        response = await self.client.get("/internal/v1/devices", headers=self.headers(user))
        return [d["device_id"] for d in response.json()["items"]]


async def eventually(check: Callable[[], Awaitable[bool]], timeout_s: float = 5.0) -> None:
    """Wait until `check` holds (the dispatcher works in the background)."""
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


@pytest.fixture
async def fake_push_url(tmp_path: Path) -> AsyncIterator[str]:
    fake = create_fake_push(make_settings(FakePushSettings, tmp_path / "fake"))
    async with serve_app(fake) as url:
        yield url


@pytest.fixture
def notifications_settings(tmp_path: Path, fake_push_url: str) -> NotificationsSettings:
    return make_settings(
        NotificationsSettings,
        tmp_path / "svc",
        fcm_base_url=fake_push_url,
        fcm_token_uri=f"{fake_push_url}/token",
        apns_base_url=fake_push_url,
        dispatch_poll_s=0.05,
        retry_base_s=0.05,
        retry_max_s=0.2,
    )


@pytest.fixture
async def harness(
    notifications_settings: NotificationsSettings, fake_push_url: str
) -> AsyncIterator[Harness]:
    app = create_app(notifications_settings)
    async with (
        running_app(app) as client,
        httpx.AsyncClient(base_url=fake_push_url, http1=False, http2=True) as fake,
    ):
        yield Harness(app, client, fake)


DATABASE_KINDS = ["sqlite", *(["postgresql"] if postgres_admin_url() else [])]


@pytest.fixture(params=DATABASE_KINDS)
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """The notifications schema on SQLite, and on PostgreSQL when TEST_DATABASE_URL is set."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'notifications.db'}"
    admin = postgres_admin_url()
    pg_url = None
    if request.param == "postgresql" and admin:
        pg_url = await asyncio.to_thread(create_postgres_database, admin, "notif_tables")
        url = pg_url.replace("postgresql://", "postgresql+asyncpg://", 1)
    database = Database(url)
    async with database.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    try:
        yield database
    finally:
        await database.dispose()
        if pg_url and admin:
            await asyncio.to_thread(drop_postgres_database, admin, pg_url)
