"""Fixtures of the inference service tests: a running app and a small client of its API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from services.inference.app import create_app
from tests.support.apps import running_app
from tests.support.backends import (
    create_postgres_database,
    drop_postgres_database,
    postgres_admin_url,
)
from tests.support.inference_api import InferenceApi, inference_settings
from tests.support.onnx_models import TrainedModel, train_classifier, train_regressor

DATABASE_KINDS = ["sqlite", *(["postgresql"] if postgres_admin_url() else [])]


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[InferenceApi]:
    async with running_app(create_app(inference_settings(tmp_path))) as client:
        yield InferenceApi(client)


@pytest.fixture(params=DATABASE_KINDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database of each kind this run can reach."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'inference.db'}"
        return
    admin = postgres_admin_url()
    assert admin is not None
    url = create_postgres_database(admin, "inference")
    try:
        yield url.replace("postgresql://", "postgresql+asyncpg://", 1)
    finally:
        drop_postgres_database(admin, url)


@pytest.fixture
async def any_db_api(tmp_path: Path, database_url: str) -> AsyncIterator[InferenceApi]:
    """The app on each database kind this run can reach."""
    settings = inference_settings(tmp_path, database_url=database_url)
    async with running_app(create_app(settings)) as client:
        yield InferenceApi(client)


@pytest.fixture(scope="session")
def classifier() -> TrainedModel:
    return train_classifier(seed=0)


@pytest.fixture(scope="session")
def classifier_v2() -> TrainedModel:
    return train_classifier(seed=1)


@pytest.fixture(scope="session")
def regressor() -> TrainedModel:
    return train_regressor(seed=0)
