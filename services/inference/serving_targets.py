"""An in-memory view of what predict serves: (latest version, version under an alias) per model.

Predict needs both on every request; reading them from the database each time cost more than
running a small model. Entries are read through from the registry (one read shared by
concurrent misses), dropped at once when this process writes a model (register, promote, roll
back, delete an alias), dropped for an owner when any replica commits a change of theirs (the
version bus, services/inference/registry_changes.py), and kept at most `ttl_s` so a change
whose event was lost still shows up within that bound. A read that started before a write
never stores its (maybe stale) answer: each write (or event) bumps a generation, and a read
stores only if the generation did not move.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

import cachetools

ServingTarget = tuple[int, int | None]
"""(latest version, version under the alias or None)."""
TargetKey = tuple[str, uuid.UUID, str]
"""(owner id, model id, alias)."""
ReadTarget = Callable[[], Awaitable[ServingTarget | None]]


class ServingTargets:
    """Read-through, write-invalidated cache of serving targets, bounded in entries and age."""

    def __init__(self, ttl_s: float, max_entries: int) -> None:
        self._ttl_s = ttl_s
        self._entries: cachetools.TTLCache[TargetKey, ServingTarget] = cachetools.TTLCache(
            maxsize=max_entries, ttl=ttl_s if ttl_s > 0 else 1.0, timer=time.monotonic
        )
        self._reading: dict[TargetKey, asyncio.Task[ServingTarget | None]] = {}
        self._generation = 0

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: TargetKey, read: ReadTarget) -> ServingTarget | None:
        """The target for `key`, from memory or from `read()`; None when there is no such model."""
        if self._ttl_s <= 0:
            return await read()
        target = self._entries.get(key)
        if target is not None:
            return target
        task = self._reading.get(key)
        if task is None:
            task = asyncio.create_task(self._read(key, read, self._generation))
            task.add_done_callback(_consume_exception)
            self._reading[key] = task
        # Shielded: a caller that gives up must not cancel the read the others wait for.
        return await asyncio.shield(task)

    async def _read(
        self, key: TargetKey, read: ReadTarget, generation: int
    ) -> ServingTarget | None:
        try:
            target = await read()
        finally:
            if self._reading.get(key) is asyncio.current_task():
                del self._reading[key]
        # Unknown models are not kept: model ids are random, so a miss costs one indexed read.
        if target is not None and generation == self._generation:
            self._entries[key] = target
        return target

    def invalidate(self, model_id: uuid.UUID) -> None:
        """Forget everything about `model_id` (call it after a write to the model commits)."""
        self._generation += 1
        for key in [k for k in self._entries if k[1] == model_id]:
            self._entries.pop(key, None)
        # Reads in flight may have seen the old rows: later callers start a fresh one.
        for key in [k for k in self._reading if k[1] == model_id]:
            del self._reading[key]

    def forget_owner(self, owner_id: str) -> None:
        """Forget every model of `owner_id` (a change of theirs committed somewhere)."""
        self._generation += 1
        for key in [k for k in self._entries if k[0] == owner_id]:
            self._entries.pop(key, None)
        for key in [k for k in self._reading if k[0] == owner_id]:
            del self._reading[key]

    def clear(self) -> None:
        self._generation += 1
        self._entries.clear()
        self._reading.clear()


def _consume_exception(task: asyncio.Task[ServingTarget | None]) -> None:
    # Every caller may have given up; the failure still reached whoever waited.
    if not task.cancelled():
        task.exception()
