"""A config change made through one BFF replica reaches the others at once over Redis, not
after their TTL; the replica that served it drops its own copy without any bus."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from pathlib import Path

from bff.admin.bootstrap import MIGRATIONS_DIR
from bff.app_config.replicas import build_config_bus, hearing_config_changes
from bff.app_config.service import AppConfigService, Flag
from services.kit.database import Database
from services.kit.migrations import upgrade_to_head
from tests.support.redis_server import redis_url  # noqa: F401  (a fixture)

_HOUR = 3600.0


async def _database(tmp_path: Path) -> Database:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'bff.db'}")
    await upgrade_to_head(db, MIGRATIONS_DIR)
    return db


async def test_the_replica_that_wrote_sees_it_at_once(tmp_path: Path) -> None:
    db = await _database(tmp_path)
    config = AppConfigService(db, ttl_s=_HOUR)
    assert (await config.snapshot()).maintenance is False

    await config.set_maintenance(True, "soon back")

    assert (await config.snapshot()).maintenance is True
    await db.dispose()


async def test_every_replica_hears_a_change_over_redis(tmp_path: Path, redis_url: str) -> None:  # noqa: F811
    db = await _database(tmp_path)
    one = AppConfigService(db, ttl_s=_HOUR, bus=build_config_bus(redis_url))
    other = AppConfigService(db, ttl_s=_HOUR, bus=build_config_bus(redis_url))
    async with AsyncExitStack() as stack:
        for replica in (one, other):
            await stack.enter_async_context(hearing_config_changes(replica))
        await asyncio.sleep(0.2)  # both subscribed
        assert (await other.snapshot()).flags == ()  # cached for an hour from here

        await one.set_flag(Flag("new_ui", True, 10))
        for _ in range(100):
            if (await other.snapshot()).flags:
                break
            await asyncio.sleep(0.02)

        assert (await other.snapshot()).flags == (Flag("new_ui", True, 10),)
    await db.dispose()
