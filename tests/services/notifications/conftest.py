"""The notifications service in-process, pushing to the fake provider served on a free port."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.fake_push.app import create_app as create_fake_push
from services.fake_push.settings import FakePushSettings
from services.kit.database import Database
from services.notifications.settings import NotificationsSettings
from services.notifications.tables import metadata
from tests.support.backends import (
    create_postgres_database,
    drop_postgres_database,
    postgres_admin_url,
)
from tests.support.notifications_api import Harness, running_harness
from tests.support.servers import serve_app
from tests.support.settings import make_settings


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
    async with running_harness(notifications_settings, fake_push_url) as running:
        yield running


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
