"""The worker processes that run `trainer.train`, off the event loop, a few threads each.

One single-process pool per slot: a training that must be stopped (it ran too long, or it would
not reach its next checkpoint after a cancel) is stopped by killing its own process, and the
trainings in the other slots run on. Each process loads the heavy libraries when it starts (the
worker starts them all at once), so jobs pay no imports; a killed process is replaced at once.
"""

from __future__ import annotations

import asyncio
import ctypes
import importlib
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Generic, TypeVar

from services.training.trainer import report_for, train
from services.training.training_run import ReportResult, TrainingResult, TrainingSpec

T = TypeVar("T")

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


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _die_with(service_pid: int) -> None:
    """Have the kernel kill this process when the service that started it dies.

    A pool process waits on its task queue forever: without this, a service killed by SIGKILL or
    the OOM killer would leave its training processes (a few hundred MB each) behind. Linux only;
    elsewhere the service's process group is left to the supervisor.
    """
    if sys.platform != "linux":
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        return
    if os.getppid() != service_pid:  # it died before prctl took effect
        os._exit(1)


def _init_process(threads: int, nice: int, service_pid: int) -> None:
    _die_with(service_pid)
    # Set before numpy/scikit-learn load their thread pools in the fresh (spawned) process.
    for name in _THREAD_VARIABLES:
        os.environ[name] = str(threads)
    # Training yields the CPU to the API processes on the same machine.
    if nice and hasattr(os, "nice"):
        os.nice(nice)
    # Load the heavy libraries now, not during the first job a process gets.
    for module in _PRELOADED:
        importlib.import_module(module)


def _ready() -> None:
    """A no-op task: submitting it starts a process (and its imports) before a job needs it."""


class _Slot:
    """One training process at a time, in a pool of its own so it can be killed alone."""

    def __init__(self, threads: int, nice: int) -> None:
        self._threads = threads
        self._nice = nice
        self._executor: ProcessPoolExecutor | None = None

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        try:
            return self._ensure().submit(fn, *args)
        except BrokenProcessPool:
            # The idle process died (out of memory, a signal): start a fresh one for this job.
            self.close()
            return self._ensure().submit(fn, *args)

    def _ensure(self) -> ProcessPoolExecutor:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_process,
                # Started from the event loop's thread, which lives as long as the service:
                # the parent-death signal follows the thread that started the process.
                initargs=(self._threads, self._nice, os.getpid()),
            )
        return self._executor

    def pids(self) -> list[int]:
        processes = getattr(self._executor, "_processes", None) or {}
        return [p.pid for p in processes.values() if p.pid is not None and p.is_alive()]

    def warm(self) -> Future[None]:
        """Start this slot's process (and its imports) if it has none; done once it is ready."""
        try:
            return self._ensure().submit(_ready)
        except BrokenProcessPool:  # its idle process died: start another
            self.close()
            return self._ensure().submit(_ready)

    def replace(self, *, warm: bool = True) -> None:
        """Kill this slot's process; with `warm`, start its successor (and its imports) now."""
        self.close()
        if warm:
            self.warm()

    def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is None:
            return
        # ProcessPoolExecutor cannot stop a running task (Python < 3.14 has no
        # terminate_workers), so its process is killed; it is the only one of this pool.
        processes = getattr(executor, "_processes", None) or {}
        for process in list(processes.values()):
            process.kill()
        executor.shutdown(wait=False, cancel_futures=True)


class TrainingRun(Generic[T]):
    """One task in progress in its own process: await `result`, or `kill` that process.

    A run started with `keep` holds its process after a successful result, for a `follow_up`
    task in the same process (which finds the fitted model there), or until `release`.
    """

    def __init__(
        self, pool: TrainingPool, slot: _Slot, future: Future[T], *, keep: bool = False
    ) -> None:
        self._pool = pool
        self._slot = slot
        self._settled = False
        self._keep = keep
        self.result: asyncio.Future[T] = asyncio.wrap_future(future)
        self.result.add_done_callback(self._finished)

    def _finished(self, result: asyncio.Future[T]) -> None:
        # Retrieved here, so an abandoned training never logs "exception never retrieved".
        error = None if result.cancelled() else result.exception()
        if self._settled:
            return
        if isinstance(error, BrokenProcessPool):
            self._settled = True
            self._pool._replace(self._slot)  # the process died under this training
            self._pool._release(self._slot)
            return
        if self._keep and error is None and not result.cancelled():
            return  # the process stays this run's until `follow_up` or `release`
        self._settled = True
        self._pool._release(self._slot)

    def follow_up(self, fn: Callable[..., T2], *args: Any) -> TrainingRun[T2]:
        """Run `fn(*args)` next in this run's process (its result in): the slot passes to it."""
        if self._settled or not self.result.done():
            raise RuntimeError("a follow-up needs a finished run that still holds its process")
        self._settled = True
        try:
            future = self._slot.submit(fn, *args)
        except BaseException:
            self._pool._release(self._slot)
            raise
        return TrainingRun(self._pool, self._slot, future)

    def release(self) -> None:
        """Give the process back without a follow-up (a no-op once given back)."""
        if not self._settled:
            self._settled = True
            self._pool._release(self._slot)

    async def stopped(self, timeout_s: float) -> bool:
        """Wait up to `timeout_s` for the training to end by itself; whether it did."""
        done, _ = await asyncio.wait({self.result}, timeout=timeout_s)
        return bool(done)

    def kill(self) -> None:
        """Stop this training now by killing its process; trainings in other slots run on."""
        if self._settled:
            return
        self._settled = True
        self._pool._replace(self._slot)
        self._pool._release(self._slot)


T2 = TypeVar("T2")


class TrainingPool:
    """`slots` spawn-context training processes, one training each at a time."""

    def __init__(self, slots: int, threads: int, nice: int = 0) -> None:
        self._slots = [_Slot(threads, nice) for _ in range(slots)]
        self._free: asyncio.Queue[_Slot] = asyncio.Queue()
        for slot in self._slots:
            self._free.put_nowait(slot)
        self._closed = False

    async def start(
        self, spec: TrainingSpec, parquet_path: str, artifact_path: str, *, keep: bool = False
    ) -> TrainingRun[TrainingResult]:
        """Start one training in a free process, waiting for one; its handle. With `keep`, the
        process stays the run's after success, for its report (`TrainingRun.follow_up`)."""
        return await self._start(keep, train, spec, parquet_path, artifact_path)

    async def start_report(
        self, spec: TrainingSpec, parquet_path: str
    ) -> TrainingRun[ReportResult]:
        """Compute the report of a job whose training process is gone (it fits the model again)."""
        return await self._start(False, report_for, spec, parquet_path)

    async def _start(self, keep: bool, fn: Callable[..., T], *args: Any) -> TrainingRun[T]:
        slot = await self._free.get()
        try:
            future = slot.submit(fn, *args)
        except BaseException:
            self._free.put_nowait(slot)
            raise
        return TrainingRun(self, slot, future, keep=keep)

    async def warm(self) -> None:
        """Start every slot's process now; returns once each has loaded its libraries."""
        if self._closed:
            return
        ready = [asyncio.wrap_future(slot.warm()) for slot in self._slots]
        # A process that dies while it starts is replaced when a training finds it broken.
        await asyncio.gather(*ready, return_exceptions=True)

    @property
    def busy(self) -> int:
        """How many slots hold a training that has not ended (or been killed) yet."""
        return len(self._slots) - self._free.qsize()

    def pids(self) -> list[int]:
        """PIDs of the live training processes (for operators' probes and tests)."""
        return [pid for slot in self._slots for pid in slot.pids()]

    def _replace(self, slot: _Slot) -> None:
        if self._closed:
            slot.close()
        else:
            slot.replace()

    def _release(self, slot: _Slot) -> None:
        if self._closed:
            slot.close()
            return
        self._free.put_nowait(slot)

    def shutdown(self) -> None:
        """Stop every training process on service shutdown, without waiting for any."""
        self._closed = True
        for slot in self._slots:
            slot.close()
