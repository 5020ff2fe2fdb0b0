"""What the inference domain code works with: settings, database, artifact store, loaded models."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from services.inference.model_cache import ModelCache
from services.inference.settings import InferenceSettings
from services.kit.database import Database
from services.kit.file_store import FileStore

P = ParamSpec("P")
T = TypeVar("T")


@dataclass
class InferenceContext:
    """Built once per app; the thread pool runs every onnxruntime call off the event loop."""

    settings: InferenceSettings
    db: Database
    store: FileStore
    cache: ModelCache
    executor: ThreadPoolExecutor

    async def in_pool(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run blocking `fn` on the inference thread pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(fn, *args, **kwargs))
