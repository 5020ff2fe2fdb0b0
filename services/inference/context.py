"""What the inference domain code works with: settings, database, artifact store, loaded models."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import ParamSpec, TypeVar

from proto.inference import Prediction
from services.inference.batching import MicroBatcher
from services.inference.model_cache import CacheKey, LoadedModel, ModelCache
from services.inference.prediction import Row
from services.inference.prediction_cache import PredictionCache
from services.inference.serving_targets import ServingTargets
from services.inference.settings import InferenceSettings
from services.kit.cache import Cache
from services.kit.database import Database
from services.kit.file_store import FileStore

P = ParamSpec("P")
T = TypeVar("T")

Batcher = MicroBatcher[LoadedModel, Row, Prediction]


@dataclass
class InferenceContext:
    """Built once per app; the thread pool runs every model call off the event loop."""

    settings: InferenceSettings
    db: Database
    store: FileStore
    cache: ModelCache
    executor: ThreadPoolExecutor
    # The kit cache: rate-limit windows (and the L2 of `predictions` when it is Redis).
    limits: Cache
    predictions: PredictionCache
    # (latest, aliased) versions per (owner, model, alias); registry writes invalidate it.
    targets: ServingTargets
    # One micro-batcher per model version with calls queued or running.
    batchers: dict[CacheKey, Batcher] = field(default_factory=dict)

    async def in_pool(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run blocking `fn` on the inference thread pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(fn, *args, **kwargs))
