"""Config changes heard by every BFF replica: with Redis, a change made through one replica
drops the cached copy of every other at once (a message on a channel of the kit's version
bus); without Redis there is one replica, which drops its own copy as it writes. The TTL
stays the bound when a message is lost. Other operator config cached per replica (the GraphQL
safelists) publishes on the same bus and is dropped with the app config."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Protocol

from bff.app_config.service import AppConfigService
from services.kit.change_versions import VersionBus, build_version_bus
from services.kit.structured_logging import get_logger

_CHANNEL = "bff-app-config"
_log = get_logger(__name__)


def build_config_bus(redis_url: str | None) -> VersionBus | None:
    """The replicas' channel for config changes; None with no Redis (one replica)."""
    return build_version_bus(redis_url, _CHANNEL) if redis_url else None


class Cached(Protocol):
    """Operator config a replica keeps a copy of."""

    def invalidate(self) -> None: ...


@contextlib.asynccontextmanager
async def hearing_config_changes(config: AppConfigService, *others: Cached) -> AsyncIterator[None]:
    """While open: any replica's config change (its bus message) drops this replica's copies
    (the app config's and `others'`); so does losing the bus (a change may have been missed).
    Closes the bus on exit."""
    bus = config.bus
    if bus is None:
        yield
        return
    copies: tuple[Cached, ...] = (config, *others)

    def drop() -> None:
        for copy in copies:
            copy.invalidate()

    async def listen() -> None:
        while True:
            try:
                subscription = await bus.subscribe()
            except Exception as exc:  # Redis unreachable: the TTL bounds staleness meanwhile
                _log.warning("app_config_bus_lost", error=type(exc).__name__)
                await asyncio.sleep(1.0)
                continue
            drop()  # changes made while not subscribed
            try:
                while await subscription.queue.get() is not None:
                    drop()
            finally:
                drop()
                await subscription.close()

    task = asyncio.create_task(listen())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await bus.close()
