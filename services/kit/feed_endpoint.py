"""GET /internal/v1/feed: the acting user's change feed, for the BFF's sync; and the
periodic pruning of old tombstones, for every service that keeps a feed."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from proto.common import FEED_PATH, MAX_FEED_PAGE, FeedPage
from services.kit.background import running
from services.kit.change_feed import FeedTables, prune_tombstones, read_feed
from services.kit.dependencies import INTERNAL_DEPENDENCIES, ActingUser, Runtime
from services.kit.params import SinceParam
from services.kit.routing import FixedPathsRouter
from services.kit.structured_logging import get_logger

_log = get_logger(__name__)
MAX_KINDS = 20


def build_changes_router(tables: FeedTables) -> APIRouter:
    router = FixedPathsRouter(dependencies=INTERNAL_DEPENDENCIES, tags=["changes"])

    @router.get(FEED_PATH, response_model=FeedPage)
    async def changes(
        runtime: Runtime,
        user: ActingUser,
        since: SinceParam = 0,
        limit: Annotated[int, Query(ge=1, le=MAX_FEED_PAGE)] = 200,
        kind: Annotated[list[str] | None, Query(max_length=MAX_KINDS)] = None,
        snapshot: bool = False,
    ) -> FeedPage:
        """The caller's entries after `since`, oldest first: upserts with the entity's state,
        and tombstones. A `since` behind the pruned tombstones starts a snapshot (`reset`)."""
        return await read_feed(
            runtime.db, tables, user, since, limit, kinds=kind, snapshot=snapshot
        )

    return router


@contextlib.asynccontextmanager
async def pruning_tombstones(runtime: Runtime, tables: FeedTables) -> AsyncIterator[None]:
    """While open: prune the feed's old tombstones every `feed_prune_interval_s`."""
    settings = runtime.settings

    async def loop() -> None:
        while True:
            await asyncio.sleep(settings.feed_prune_interval_s)
            try:
                pruned = await prune_tombstones(
                    runtime.db,
                    tables,
                    max_age=timedelta(days=settings.feed_tombstone_max_age_days),
                    keep_per_owner=settings.feed_tombstones_per_owner,
                )
            except Exception as exc:  # the next round tries again; the feed stays correct
                _log.warning("feed_prune_failed", error=type(exc).__name__)
                continue
            if pruned:
                _log.info("feed_pruned", tombstones=pruned)

    async with running(loop()):
        yield
