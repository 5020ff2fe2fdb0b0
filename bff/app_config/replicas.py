"""Config changes heard by every BFF replica: with Redis, a change made through one replica
drops the cached copy of every other at once (a message on a channel of the kit's version
bus); without Redis there is one replica, which drops its own copy as it writes. The TTL
stays the bound when a message is lost. Other operator config cached per replica (the GraphQL
safelists) publishes on the same bus and is dropped with the app config."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Protocol

from bff.app_config.service import AppConfigService
from services.kit.change_versions import VersionBus, build_version_bus, following
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

    def drop(*_: object) -> None:
        for copy in copies:
            copy.invalidate()

    # Heard or lost, a change may have been missed: every event and both moments drop them.
    try:
        async with following(bus, drop, name="app_config", on_heard=drop):
            yield
    finally:
        await bus.close()
