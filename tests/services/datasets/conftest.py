"""Fixtures of the datasets tests: small chunks so a tiny CSV spans several of them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from services.datasets.app import create_app
from services.datasets.settings import DatasetsSettings
from tests.support.apps import running_app
from tests.support.backends import (
    create_postgres_database,
    drop_postgres_database,
    postgres_admin_url,
)
from tests.support.datasets_api import CHUNK_SIZE, DatasetsApi, SettingsFactory
from tests.support.settings import make_settings

DATABASE_KINDS = ["sqlite", *(["postgresql"] if postgres_admin_url() else [])]


@pytest.fixture(params=DATABASE_KINDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | None]:
    """None for the default SQLite file; a fresh PostgreSQL database when one is reachable."""
    if request.param == "sqlite":
        yield None
        return
    admin = postgres_admin_url()
    assert admin is not None
    url = create_postgres_database(admin, "datasets")
    try:
        yield url
    finally:
        drop_postgres_database(admin, url)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def settings_for(data_dir: Path) -> SettingsFactory:
    def build(**overrides: Any) -> DatasetsSettings:
        values: dict[str, Any] = {"upload_chunk_size_bytes": CHUNK_SIZE, **overrides}
        return make_settings(DatasetsSettings, data_dir, **values)

    return build


@pytest.fixture
def settings(settings_for: SettingsFactory) -> DatasetsSettings:
    return settings_for()


@pytest.fixture
async def api(settings: DatasetsSettings) -> AsyncIterator[DatasetsApi]:
    async with running_app(create_app(settings)) as client:
        yield DatasetsApi(client)
