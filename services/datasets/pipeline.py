"""Overlap the stages of a conversion on threads: parse ahead, write a row group in the background.

pyarrow parses, encodes and compresses without holding the GIL, so reading the next batches,
writing one row group and computing the stats of another keep several cores busy where one
thread did them one after another. The hand-offs are short queues, so memory stays bounded
by a few batches and one row group in flight.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType
from typing import Generic, TypeVar, cast

T = TypeVar("T")
_POLL_S = 0.05


@dataclass(frozen=True, slots=True)
class _Failed:
    error: BaseException


_DONE = object()


class ReadAhead(Generic[T]):
    """Iterate `source` on a thread up to `depth` items ahead of the consumer.

    Items come in order, then the source's exception if it raised one (re-raised here, so a
    parse error reaches the consumer after the batches before it, as without the thread).
    Leaving the `with` block early stops the thread before the source's file may be closed.
    """

    def __init__(self, source: Iterator[T], depth: int) -> None:
        self._source = source
        self._queue: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, name="read-ahead", daemon=True)

    def __enter__(self) -> Iterator[T]:
        self._thread.start()
        return self._items()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        while self._thread.is_alive():  # unblock a producer waiting for room in the queue
            try:
                self._queue.get(timeout=_POLL_S)
            except queue.Empty:
                pass
        self._thread.join()

    def _produce(self) -> None:
        try:
            for item in self._source:
                if not self._put(item):
                    return
        except BaseException as error:  # handed to the consumer, raised there
            self._put(_Failed(error))
            return
        self._put(_DONE)

    def _put(self, item: object) -> bool:
        """Queue `item` unless the consumer left; whether it was queued."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def _items(self) -> Iterator[T]:
        while True:
            item = self._queue.get()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield cast(T, item)


class Background(Generic[T]):
    """Run calls on one worker thread, in order, at most one at a time and one queued.

    `submit` waits for the previous call first, so a slow consumer never lets work pile up
    in memory, and raises that call's exception if it failed.
    """

    def __init__(self, name: str) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._pending: Future[T] | None = None

    def submit(self, call: Callable[[], T]) -> None:
        self.wait()
        self._pending = self._pool.submit(call)

    def wait(self) -> None:
        """Wait for the call in flight; its exception is raised here."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def close(self) -> None:
        """Wait for the call in flight (without raising) and stop the thread."""
        self._pool.shutdown(wait=True)
