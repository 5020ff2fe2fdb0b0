"""Fixtures of the idempotency tests: the BFF's schema on SQLite, and on PostgreSQL when
TEST_DATABASE_URL is set."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bff.app import MIGRATIONS_DIR
from services.kit.database import Database
from services.kit.migrations import upgrade_to_head
from tests.support.backends import (
    create_postgres_database,
    drop_postgres_database,
    postgres_admin_url,
)

DATABASE_KINDS = ["sqlite", *(["postgresql"] if postgres_admin_url() else [])]


@pytest.fixture(params=DATABASE_KINDS)
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A fresh BFF database, migrated to head."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'bff.db'}"
    admin = postgres_admin_url()
    pg_url = None
    if request.param == "postgresql" and admin:
        pg_url = await asyncio.to_thread(create_postgres_database, admin, "bff_idempotency")
        url = pg_url.replace("postgresql://", "postgresql+asyncpg://", 1)
    database = Database(url)
    await upgrade_to_head(database, MIGRATIONS_DIR)
    try:
        yield database
    finally:
        await database.dispose()
        if pg_url and admin:
            await asyncio.to_thread(drop_postgres_database, admin, pg_url)
