"""Loaded models kept in memory, least recently used evicted first, within a memory budget.

Keyed by (model_id, version): versions are immutable, so an entry never goes stale. Concurrent
requests for a model that is not loaded yet share one load. An evicted model that a request
still holds keeps working for that request (hot swap never pulls a model from under a caller).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from numpy.typing import NDArray

from proto.inference import FeatureSpec, FeatureValue
from proto.training import Task

CacheKey = tuple[uuid.UUID, int]
# A loaded model holds its weights plus runtime buffers: count it as twice its artifact.
_MEMORY_PER_ARTIFACT_BYTE = 2


class ModelRunner(Protocol):
    """Runs one loaded artifact: checked rows in, labels (and class probabilities) out."""

    def run(
        self, rows: Sequence[Mapping[str, FeatureValue]]
    ) -> tuple[NDArray[Any], NDArray[Any] | None]:
        """Labels [N] (str for classifiers, float for regressors) and probabilities [N, C]."""
        ...


@dataclass(frozen=True, slots=True)
class LoadedModel:
    """One model version ready to predict: its runner and what its rows and outputs mean."""

    model_id: uuid.UUID
    version: int
    task: Task
    features: tuple[FeatureSpec, ...]
    classes: tuple[str, ...] | None
    runner: ModelRunner
    # Estimated resident size, counted against the cache's memory budget.
    memory_bytes: int = 0

    @classmethod
    def opened(
        cls,
        key: CacheKey,
        task: Task,
        features: Sequence[FeatureSpec],
        classes: Sequence[str] | None,
        runner: ModelRunner,
        artifact_bytes: int,
    ) -> LoadedModel:
        """A version its runtime opened from an artifact of `artifact_bytes`."""
        return cls(
            model_id=key[0],
            version=key[1],
            task=task,
            features=tuple(features),
            classes=tuple(classes) if classes is not None else None,
            runner=runner,
            memory_bytes=artifact_bytes * _MEMORY_PER_ARTIFACT_BYTE,
        )


Loader = Callable[[], Awaitable[LoadedModel]]


class ModelCache:
    """An LRU of loaded models bounded in count and in bytes, with single-flight loading."""

    def __init__(self, max_models: int, max_bytes: int | None = None) -> None:
        self._max_models = max_models
        self._max_bytes = max_bytes
        self._models: OrderedDict[CacheKey, LoadedModel] = OrderedDict()
        self._loading: dict[CacheKey, asyncio.Task[LoadedModel]] = {}
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._models)

    def __contains__(self, key: object) -> bool:
        return key in self._models

    @property
    def memory_bytes(self) -> int:
        """Estimated bytes of the models held now."""
        return self._bytes

    async def get(self, key: CacheKey, load: Loader) -> LoadedModel:
        """The cached model, or the result of `load()` (shared by concurrent callers)."""
        model = self._models.get(key)
        if model is not None:
            self._models.move_to_end(key)
            return model
        return await asyncio.shield(self._loading_task(key, load))

    def warm(self, key: CacheKey, load: Loader) -> None:
        """Start loading `key` in the background unless it is loaded or loading already."""
        if key not in self._models:
            self._loading_task(key, load)

    def keep(self, model: LoadedModel) -> None:
        """Hold a model opened elsewhere (a version just checked at registration) as if
        loaded: its first request does not open it again."""
        key = (model.model_id, model.version)
        if key not in self._loading:  # a load under way puts its own copy
            self._put(key, model)

    def _loading_task(self, key: CacheKey, load: Loader) -> asyncio.Task[LoadedModel]:
        task = self._loading.get(key)
        if task is None:
            # A task of its own, so a caller that gives up does not cancel the others' load.
            task = asyncio.create_task(self._load(key, load))
            task.add_done_callback(_consume_exception)
            self._loading[key] = task
        return task

    async def _load(self, key: CacheKey, load: Loader) -> LoadedModel:
        try:
            model = await load()
        finally:
            self._loading.pop(key, None)
        self._put(key, model)
        return model

    def _put(self, key: CacheKey, model: LoadedModel) -> None:
        previous = self._models.pop(key, None)
        if previous is not None:
            self._bytes -= previous.memory_bytes
        self._models[key] = model
        self._bytes += model.memory_bytes
        # The newest model always stays, even alone over the budget: it was just asked for.
        while len(self._models) > 1 and (
            len(self._models) > self._max_models
            or (self._max_bytes is not None and self._bytes > self._max_bytes)
        ):
            _, evicted = self._models.popitem(last=False)
            self._bytes -= evicted.memory_bytes

    def clear(self) -> None:
        self._models.clear()
        self._bytes = 0


def _consume_exception(task: asyncio.Task[LoadedModel]) -> None:
    # Every caller may have given up; the failure still reached whoever waited.
    if not task.cancelled():
        task.exception()
