"""Fixtures of the training tests: settings, a job database (SQLite, and PostgreSQL when
TEST_DATABASE_URL is set), and the real datasets service on a loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from services.kit.database import Database
from services.kit.migrations import upgrade_to_head
from services.training.app import MIGRATIONS_DIR
from tests.support.backends import (
    create_postgres_database,
    drop_postgres_database,
    postgres_admin_url,
)

DATABASE_KINDS = ["sqlite", *(["postgresql"] if postgres_admin_url() else [])]


@pytest.fixture(params=DATABASE_KINDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database of each kind this run can reach."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'training.db'}"
        return
    admin = postgres_admin_url()
    assert admin is not None
    url = create_postgres_database(admin, "training")
    try:
        yield url.replace("postgresql://", "postgresql+asyncpg://", 1)
    finally:
        drop_postgres_database(admin, url)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await upgrade_to_head(database, MIGRATIONS_DIR)
    try:
        yield database
    finally:
        await database.dispose()
