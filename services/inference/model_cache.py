"""Loaded ONNX sessions kept in memory, least recently used evicted first.

Keyed by (model_id, version): versions are immutable, so an entry never goes stale. Concurrent
requests for a model that is not loaded yet share one load.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import onnxruntime as ort

from proto.inference import FeatureSpec
from proto.training import Task
from services.inference.onnx_artifacts import ArtifactOutputs

CacheKey = tuple[uuid.UUID, int]


@dataclass(frozen=True, slots=True)
class LoadedModel:
    """One model version ready to predict: its session and what its rows and outputs mean."""

    model_id: uuid.UUID
    version: int
    task: Task
    features: tuple[FeatureSpec, ...]
    classes: tuple[str, ...] | None
    session: ort.InferenceSession
    outputs: ArtifactOutputs


Loader = Callable[[], Awaitable[LoadedModel]]


class ModelCache:
    """An LRU of loaded models with single-flight loading."""

    def __init__(self, max_models: int) -> None:
        self._max_models = max_models
        self._models: OrderedDict[CacheKey, LoadedModel] = OrderedDict()
        self._loading: dict[CacheKey, asyncio.Task[LoadedModel]] = {}

    def __len__(self) -> int:
        return len(self._models)

    def __contains__(self, key: object) -> bool:
        return key in self._models

    async def get(self, key: CacheKey, load: Loader) -> LoadedModel:
        """The cached model, or the result of `load()` (shared by concurrent callers)."""
        model = self._models.get(key)
        if model is not None:
            self._models.move_to_end(key)
            return model
        task = self._loading.get(key)
        if task is None:
            # A task of its own, so a caller that gives up does not cancel the others' load.
            task = asyncio.create_task(self._load(key, load))
            task.add_done_callback(_consume_exception)
            self._loading[key] = task
        return await asyncio.shield(task)

    async def _load(self, key: CacheKey, load: Loader) -> LoadedModel:
        try:
            model = await load()
        finally:
            self._loading.pop(key, None)
        self._put(key, model)
        return model

    def _put(self, key: CacheKey, model: LoadedModel) -> None:
        self._models[key] = model
        self._models.move_to_end(key)
        while len(self._models) > self._max_models:
            self._models.popitem(last=False)

    def clear(self) -> None:
        self._models.clear()


def _consume_exception(task: asyncio.Task[LoadedModel]) -> None:
    # Every caller may have given up; the failure still reached whoever waited.
    if not task.cancelled():
        task.exception()
