"""Registry changes heard on the version bus drop what predict serves, on every replica."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

from services.inference.registry_changes import forgetting_changed_targets
from services.inference.serving_targets import ServingTarget, ServingTargets
from services.kit.change_versions import MemoryVersionBus

MODEL = uuid.uuid4()


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


async def _cached(targets: ServingTargets, owner: str) -> None:
    async def read() -> ServingTarget:
        return (1, 1)

    await targets.get((owner, MODEL, "production"), read)


async def test_an_event_drops_that_owners_targets() -> None:
    bus = MemoryVersionBus()
    targets = ServingTargets(ttl_s=60, max_entries=100)
    await _cached(targets, "alice")
    await _cached(targets, "bob")

    async with forgetting_changed_targets(bus, targets):
        bus.publish([("alice", 7, None)])
        await _until(lambda: len(targets) == 1)

    assert len(targets) == 1  # bob's stays


async def test_a_watcher_that_fell_behind_forgets_everything() -> None:
    bus = MemoryVersionBus()
    targets = ServingTargets(ttl_s=60, max_entries=100)

    async with forgetting_changed_targets(bus, targets):
        await _cached(targets, "bob")
        for queue in list(bus._watchers):
            queue.put_nowait(None)  # what the bus sends a watcher it cut off
        await _until(lambda: len(targets) == 0)
        await _until(lambda: len(bus._watchers) == 1)  # and it listens again
