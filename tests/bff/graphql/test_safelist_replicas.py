"""A safelist uploaded or lifted through one BFF replica holds on the others at once, over the
app config's Redis bus, not after their TTL; the replica that wrote sees it without any bus."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from bff.admin.bootstrap import MIGRATIONS_DIR
from bff.app_config.replicas import build_config_bus, hearing_config_changes
from bff.app_config.service import AppConfigService
from bff.graphql.persisted_queries import PersistedQueryError
from bff.graphql.safelists.service import Safelists
from bff.graphql.schema import build_document_checker, build_schema
from bff.settings import BffSettings
from services.kit.change_versions import VersionBus
from services.kit.database import Database
from services.kit.migrations import upgrade_to_head
from tests.support.bff_accounts import bff_settings
from tests.support.redis_server import redis_url  # noqa: F401  (a fixture)

_HOUR = 3600.0
VIEWER = "query Viewer { viewer { id } }"
OTHER = "query Email { viewer { email } }"


async def _database(tmp_path: Path) -> Database:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'bff.db'}")
    await upgrade_to_head(db, MIGRATIONS_DIR)
    return db


def _replica(
    db: Database, settings: BffSettings, bus: VersionBus | None
) -> tuple[AppConfigService, Safelists]:
    """One replica's config and safelists, cached for an hour: only a heard change refreshes."""
    config = AppConfigService(db, ttl_s=_HOUR, bus=bus)
    checker = build_document_checker(build_schema(settings), settings)
    return config, Safelists(db, checker, max_documents=10, ttl_s=_HOUR, bus=config.bus)


async def _eventually(check: Callable[[], Awaitable[bool]]) -> bool:
    for _ in range(100):
        if await check():
            return True
        await asyncio.sleep(0.02)
    return False


async def test_the_replica_that_wrote_sees_it_at_once(tmp_path: Path) -> None:
    db = await _database(tmp_path)
    _config, safelists = _replica(db, bff_settings(tmp_path), bus=None)
    assert await safelists.of("ios", "2.3.0") is None  # cached for an hour from here

    await safelists.replace("ios", "2.3.0", [VIEWER], uploaded_by="test")

    safelist = await safelists.of("ios", "2.3.0")
    assert safelist is not None and safelist.document(VIEWER, None) == VIEWER
    with pytest.raises(PersistedQueryError) as refused:
        safelist.document(OTHER, None)
    assert refused.value.error.code == "OPERATION_NOT_SAFELISTED"
    assert await safelists.of("ios", "2.2.0") is None
    assert await safelists.of("android", "2.3.0") is None
    await db.dispose()


async def test_every_replica_hears_an_upload_and_a_lift_over_redis(
    tmp_path: Path,
    redis_url: str,  # noqa: F811
) -> None:
    db = await _database(tmp_path)
    settings = bff_settings(tmp_path)
    one_config, one = _replica(db, settings, build_config_bus(redis_url))
    other_config, other = _replica(db, settings, build_config_bus(redis_url))
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(hearing_config_changes(one_config, one))
        await stack.enter_async_context(hearing_config_changes(other_config, other))
        await asyncio.sleep(0.2)  # both subscribed
        assert await other.of("ios", "2.3.0") is None  # cached for an hour from here

        await one.replace("ios", "2.3.0", [VIEWER], uploaded_by="test")

        async def locked() -> bool:
            return await other.of("ios", "2.3.0") is not None

        assert await _eventually(locked)
        held = await other.of("ios", "2.3.0")
        assert held is not None and set(held.documents.values()) == {VIEWER}

        # A new upload replaces the documents the other replica holds in memory.
        await one.replace("ios", "2.3.0", [OTHER], uploaded_by="test")

        async def replaced() -> bool:
            current = await other.of("ios", "2.3.0")
            return current is not None and set(current.documents.values()) == {OTHER}

        assert await _eventually(replaced)

        await one.delete("ios", "2.3.0")

        async def lifted() -> bool:
            return await other.of("ios", "2.3.0") is None

        assert await _eventually(lifted)
    await db.dispose()
