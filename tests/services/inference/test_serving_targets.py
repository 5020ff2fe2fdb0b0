"""The in-memory view of serving targets: read through once, dropped on writes, never stale."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import pytest

from services.inference.serving_targets import ServingTarget, ServingTargets

MODEL = uuid.uuid4()
OTHER = uuid.uuid4()


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


class _Registry:
    """Counts reads of a mutable (latest, aliased) pair; a read may be held open by a gate."""

    def __init__(self, target: ServingTarget | None) -> None:
        self.target = target
        self.reads = 0
        self.gate: asyncio.Event | None = None

    async def read(self) -> ServingTarget | None:
        self.reads += 1
        seen = self.target
        if self.gate is not None:
            await self.gate.wait()
        return seen


async def test_a_target_is_read_once_and_then_served_from_memory() -> None:
    targets = ServingTargets(ttl_s=60, max_entries=100)
    registry = _Registry((2, 1))

    first = await targets.get(("alice", MODEL, "production"), registry.read)
    second = await targets.get(("alice", MODEL, "production"), registry.read)

    assert first == second == (2, 1)
    assert registry.reads == 1


async def test_concurrent_misses_share_one_read() -> None:
    targets = ServingTargets(ttl_s=60, max_entries=100)
    registry = _Registry((1, 1))
    registry.gate = asyncio.Event()

    waiting = [
        asyncio.create_task(targets.get(("alice", MODEL, "production"), registry.read))
        for _ in range(10)
    ]
    await _until(lambda: registry.reads == 1)
    await asyncio.sleep(0.01)
    registry.gate.set()

    assert await asyncio.gather(*waiting) == [(1, 1)] * 10
    assert registry.reads == 1


async def test_a_write_drops_the_model_at_once_and_only_that_model() -> None:
    targets = ServingTargets(ttl_s=60, max_entries=100)
    registry, other = _Registry((2, 1)), _Registry((5, 5))
    await targets.get(("alice", MODEL, "production"), registry.read)
    await targets.get(("alice", OTHER, "production"), other.read)

    registry.target = (2, 2)  # promote
    targets.invalidate(MODEL)

    assert await targets.get(("alice", MODEL, "production"), registry.read) == (2, 2)
    assert await targets.get(("alice", OTHER, "production"), other.read) == (5, 5)
    assert (registry.reads, other.reads) == (2, 1)


async def test_a_read_that_saw_the_old_rows_is_not_kept_after_a_write() -> None:
    targets = ServingTargets(ttl_s=60, max_entries=100)
    registry = _Registry((2, 1))
    registry.gate = asyncio.Event()
    key = ("alice", MODEL, "production")

    before = asyncio.create_task(targets.get(key, registry.read))
    await _until(lambda: registry.reads == 1)  # the read has seen production=1
    registry.target = (2, 2)
    targets.invalidate(MODEL)  # the promote commits while that read is in flight
    registry.gate.set()

    assert await before == (2, 1)  # it started before the promote: either answer is right
    assert await targets.get(key, registry.read) == (2, 2)
    assert registry.reads == 2


async def test_a_call_after_a_write_does_not_join_a_read_from_before_it() -> None:
    targets = ServingTargets(ttl_s=60, max_entries=100)
    registry = _Registry((2, 1))
    registry.gate = asyncio.Event()
    key = ("alice", MODEL, "production")

    before = asyncio.create_task(targets.get(key, registry.read))
    await _until(lambda: registry.reads == 1)
    registry.target = (2, 2)
    targets.invalidate(MODEL)
    after = asyncio.create_task(targets.get(key, registry.read))
    await _until(lambda: registry.reads == 2)
    registry.gate.set()

    assert await before == (2, 1)
    assert await after == (2, 2)  # it started after the promote: only the new version is right


async def test_entries_expire_after_the_ttl() -> None:
    targets = ServingTargets(ttl_s=0.05, max_entries=100)
    registry = _Registry((1, 1))
    await targets.get(("alice", MODEL, "production"), registry.read)

    registry.target = (1, None)  # changed by another replica: no local invalidation
    await asyncio.sleep(0.1)

    assert await targets.get(("alice", MODEL, "production"), registry.read) == (1, None)
    assert registry.reads == 2


async def test_unknown_models_and_a_zero_ttl_are_never_kept() -> None:
    missing = _Registry(None)
    targets = ServingTargets(ttl_s=60, max_entries=100)
    assert await targets.get(("alice", MODEL, "production"), missing.read) is None
    assert await targets.get(("alice", MODEL, "production"), missing.read) is None

    uncached = ServingTargets(ttl_s=0, max_entries=100)
    registry = _Registry((1, 1))
    for _ in range(3):
        assert await uncached.get(("alice", MODEL, "production"), registry.read) == (1, 1)

    assert missing.reads == 2
    assert registry.reads == 3
    assert len(targets) == len(uncached) == 0


async def test_a_failed_read_reaches_its_callers_and_is_not_kept() -> None:
    targets = ServingTargets(ttl_s=60, max_entries=100)
    calls = 0

    async def failing() -> ServingTarget | None:
        nonlocal calls
        calls += 1
        raise ConnectionError("database down")

    for _ in range(2):
        with pytest.raises(ConnectionError):
            await targets.get(("alice", MODEL, "production"), failing)

    assert calls == 2


async def test_a_change_of_an_owner_elsewhere_drops_their_targets_only() -> None:
    targets = ServingTargets(ttl_s=60, max_entries=100)
    alices = _Registry((1, 1))
    bobs = _Registry((3, None))
    await targets.get(("alice", MODEL, "production"), alices.read)
    await targets.get(("alice", OTHER, "staging"), alices.read)
    await targets.get(("bob", OTHER, "production"), bobs.read)
    alices.target = (2, 2)

    targets.forget_owner("alice")

    assert await targets.get(("alice", MODEL, "production"), alices.read) == (2, 2)
    assert await targets.get(("bob", OTHER, "production"), bobs.read) == (3, None)
    assert (alices.reads, bobs.reads) == (3, 1)
