"""Adaptive micro-batching: concurrent predict calls for one model version run as one batch.

A call that finds the model idle runs at once, alone. While batches are running, calls queue up;
when a run slot frees, the queued rows go as one batch (up to `max_rows`). Under load a batch may
wait up to `max_wait_s` for more rows before it starts, but never while the model is idle. So
throughput rises with load and an idle request pays nothing.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

M = TypeVar("M")
R = TypeVar("R")
P = TypeVar("P")

RunBatch = Callable[[M, list[R]], Awaitable[list[P]]]


@dataclass(slots=True)
class _Call(Generic[M, R, P]):
    model: M
    rows: Sequence[R]
    future: asyncio.Future[list[P]] = field(repr=False)


class MicroBatcher(Generic[M, R, P]):
    """Coalesces calls for one model version; at most `max_in_flight` batches run at once."""

    def __init__(
        self,
        run_batch: RunBatch[M, R, P],
        *,
        max_rows: int,
        max_wait_s: float,
        max_in_flight: int,
        on_idle: Callable[[], None] | None = None,
    ) -> None:
        self._run_batch = run_batch
        self._max_rows = max_rows
        self._max_wait_s = max_wait_s
        self._max_in_flight = max_in_flight
        self._on_idle = on_idle
        self._queue: deque[_Call[M, R, P]] = deque()
        self._queued_rows = 0
        self._in_flight = 0
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.batches_run = 0

    @property
    def idle(self) -> bool:
        """Nothing queued and nothing running."""
        return not self._queue and self._in_flight == 0

    async def predict(self, model: M, rows: Sequence[R]) -> list[P]:
        """The predictions for `rows`, computed in a batch with whatever else is queued."""
        future: asyncio.Future[list[P]] = asyncio.get_running_loop().create_future()
        self._queue.append(_Call(model, rows, future))
        self._queued_rows += len(rows)
        self._schedule()
        return await future

    def _schedule(self) -> None:
        while self._queue and self._in_flight < self._max_in_flight:
            full = self._queued_rows >= self._max_rows
            if self._in_flight == 0 or full or self._max_wait_s <= 0:
                self._start_batch()
                continue
            # Other batches are running: let this one fill up a little before it starts.
            if self._timer is None:
                self._timer = asyncio.get_running_loop().call_later(
                    self._max_wait_s, self._on_timer
                )
            return

    def _on_timer(self) -> None:
        self._timer = None
        if self._queue and self._in_flight < self._max_in_flight:
            self._start_batch()
        self._schedule()

    def _start_batch(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        calls: list[_Call[M, R, P]] = []
        rows = 0
        while self._queue and (not calls or rows + len(self._queue[0].rows) <= self._max_rows):
            call = self._queue.popleft()
            self._queued_rows -= len(call.rows)
            if call.future.done():  # its caller gave up while it waited
                continue
            calls.append(call)
            rows += len(call.rows)
        if not calls:
            return
        self._in_flight += 1
        self.batches_run += 1
        task = asyncio.create_task(self._run(calls))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, calls: list[_Call[M, R, P]]) -> None:
        try:
            rows = [row for call in calls for row in call.rows]
            predictions = await self._run_batch(calls[0].model, rows)
        except Exception as exc:  # every caller in the batch gets the same failure
            for call in calls:
                if not call.future.done():
                    call.future.set_exception(exc)
        else:
            start = 0
            for call in calls:
                end = start + len(call.rows)
                if not call.future.done():
                    call.future.set_result(predictions[start:end])
                start = end
        finally:
            self._in_flight -= 1
            self._schedule()
            if self.idle and self._on_idle is not None:
                self._on_idle()
