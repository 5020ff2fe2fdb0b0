"""What every loader shares: one service call per batch of keys, answers matched to keys."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any, TypeVar

from strawberry.dataloader import DataLoader

from proto.common import MAX_BATCH_IDS

K = TypeVar("K", bound=Hashable)
Item = dict[str, Any]


def batch_loader(
    read: Callable[[Sequence[K]], Awaitable[list[Item]]], key_of: Callable[[Item], K]
) -> DataLoader[K, Item | None]:
    """A loader that reads up to MAX_BATCH_IDS keys per call to `read`; a key the service
    did not answer (missing, or another user's) loads None. A failed call fails its keys."""

    async def load(keys: list[K]) -> list[Item | None]:
        found = {key_of(item): item for item in await read(keys)}
        return [found.get(key) for key in keys]

    return DataLoader(load_fn=load, max_batch_size=MAX_BATCH_IDS)
