"""Expired idempotency records go in bounded rounds, so the table holds about a week of keys."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from bff.idempotency.store import IdempotencyStore
from services.kit.background import running
from services.kit.structured_logging import get_logger

# A round deletes at most this many batches; what is left waits for the next round.
_MAX_BATCHES_PER_ROUND = 10

_log = get_logger(__name__)


async def prune_round(store: IdempotencyStore, batch: int) -> int:
    """Delete expired records, `batch` rows per statement, a bounded number of statements."""
    total = 0
    for _ in range(_MAX_BATCHES_PER_ROUND):
        deleted = await store.prune(batch)
        total += deleted
        if deleted < batch:
            break
    return total


@contextlib.asynccontextmanager
async def pruning(store: IdempotencyStore, every_s: float, batch: int) -> AsyncIterator[None]:
    """While open: a round of pruning now and every `every_s` seconds (each replica prunes;
    rounds that meet each other delete nothing twice)."""

    async def loop() -> None:
        while True:
            try:
                deleted = await prune_round(store, batch)
                if deleted:
                    _log.info("idempotency_pruned", deleted=deleted)
            except Exception as exc:  # the database is back by the next round
                _log.warning("idempotency_prune_failed", error=type(exc).__name__)
            await asyncio.sleep(every_s)

    async with running(loop()):
        yield
