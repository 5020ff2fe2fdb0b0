"""The worker processes that run `trainer.train`, off the event loop, a few threads each."""

from __future__ import annotations

import asyncio
import importlib
import multiprocessing
import os
from concurrent.futures import Future, ProcessPoolExecutor

from services.training.trainer import TrainingResult, TrainingSpec, train

_THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


# The training code itself too: the first job a process gets pays no imports.
_PRELOADED = (
    "sklearn.ensemble",
    "skl2onnx",
    "torch",
    "services.training.trainer",
    "services.training.onnx_conversion",
    "services.training.torch_models",
)


def _init_process(threads: int, nice: int) -> None:
    # Set before numpy/scikit-learn load their thread pools in the fresh (spawned) process.
    for name in _THREAD_VARIABLES:
        os.environ[name] = str(threads)
    # Training yields the CPU to the API processes on the same machine.
    if nice and hasattr(os, "nice"):
        os.nice(nice)
    # Load the heavy libraries now, not during the first job a process gets.
    for module in _PRELOADED:
        importlib.import_module(module)


class TrainingPool:
    """A spawn-context process pool of `workers` processes; restartable when one must be stopped."""

    def __init__(self, workers: int, threads: int, nice: int = 0) -> None:
        self._workers = workers
        self._threads = threads
        self._nice = nice
        self._executor: ProcessPoolExecutor | None = None

    def _ensure(self) -> ProcessPoolExecutor:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                max_workers=self._workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_process,
                initargs=(self._threads, self._nice),
            )
        return self._executor

    def submit(
        self, spec: TrainingSpec, parquet_path: str, artifact_path: str
    ) -> asyncio.Future[TrainingResult]:
        """Start one training; the awaitable resolves with its result or its exception."""
        future: Future[TrainingResult] = self._ensure().submit(
            train, spec, parquet_path, artifact_path
        )
        wrapped = asyncio.wrap_future(future)
        # An abandoned training (cancelled, timed out) must not log "exception never retrieved".
        wrapped.add_done_callback(lambda f: f.cancelled() or f.exception())
        return wrapped

    def restart(self) -> None:
        """Stop every training process now (one ran too long); the next submit starts fresh ones."""
        executor, self._executor = self._executor, None
        if executor is None:
            return
        # ProcessPoolExecutor cannot stop one running task (Python < 3.14 has no
        # terminate_workers), so the processes are killed; other jobs in them retry via
        # their leases.
        processes = getattr(executor, "_processes", None) or {}
        for process in list(processes.values()):
            process.kill()
        executor.shutdown(wait=False, cancel_futures=True)

    def shutdown(self) -> None:
        """Stop the pool on service shutdown without waiting for trainings in progress."""
        self.restart()
