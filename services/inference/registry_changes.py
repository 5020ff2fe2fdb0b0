"""Every replica hears every registry change: what predict serves is forgotten at once.

The kit's version bus (Redis pub/sub when configured) carries an (owner, version, origin)
event for each committed change of an owner's models, versions or aliases, from whichever
replica made it. Loaded models are keyed by immutable versions and never go stale; what does
is the serving target (latest version, version under an alias), so each event drops that
owner's targets here, and the next predict reads them again (and loads a new version from the
shared store on first use). While the bus is lost, the targets' TTL is the bound.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from services.inference.serving_targets import ServingTargets
from services.kit.change_versions import VersionBus
from services.kit.structured_logging import get_logger

_RESUBSCRIBE_S = 1.0

_log = get_logger(__name__)


@contextlib.asynccontextmanager
async def forgetting_changed_targets(
    bus: VersionBus, targets: ServingTargets
) -> AsyncIterator[None]:
    """While open: a change of an owner's registry on any replica drops their serving targets."""
    subscribed = asyncio.Event()

    async def listen() -> None:
        while True:
            try:
                subscription = await bus.subscribe()
            except Exception as exc:  # Redis unreachable: the TTL bounds staleness meanwhile
                _log.warning("registry_bus_lost", error=type(exc).__name__)
                subscribed.set()
                await asyncio.sleep(_RESUBSCRIBE_S)
                continue
            subscribed.set()
            try:
                while (event := await subscription.queue.get()) is not None:
                    targets.forget_owner(event[0])
            finally:
                await subscription.close()
            # Fell behind or lost the channel: events may be missing, so forget everything.
            targets.clear()

    task = asyncio.create_task(listen())
    try:
        # Subscribed before the app serves: no change committed from then on goes unheard.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(subscribed.wait(), timeout=5.0)
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
