"""Fixtures of the BFF tests: settings with fast hashing, the app with every service down."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from bff.app import create_app
from bff.settings import BffSettings
from tests.support import backends
from tests.support.apps import running_app
from tests.support.bff_accounts import bff_settings


@pytest.fixture
def settings(tmp_path: Path) -> BffSettings:
    return bff_settings(tmp_path)


@pytest.fixture
async def client(settings: BffSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(create_app(settings)) as http:
        yield http


@pytest.fixture
def shared_redis() -> Iterator[str]:
    """A Redis database of its own, for replicas that share it (skipped without
    TEST_REDIS_URL; CI sets it, and there a server that does not answer fails)."""
    admin = backends.redis_admin_url()
    if not admin:
        pytest.skip("TEST_REDIS_URL not set")
    url = backends.claim_redis_database(admin)
    try:
        yield url
    finally:
        backends.flush_redis_database(url)
