"""The conversion's hand-offs between threads: order, errors and stopping early."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest

from services.datasets.pipeline import Background, ReadAhead


def test_items_come_in_order_then_the_error_of_the_source() -> None:
    def source() -> Iterator[int]:
        yield from range(50)
        raise ValueError("row 51 is ragged")

    seen: list[int] = []
    with pytest.raises(ValueError, match="ragged"), ReadAhead(source(), depth=3) as items:
        seen.extend(items)

    assert seen == list(range(50))


def test_leaving_early_stops_the_producer() -> None:
    produced: list[int] = []

    def source() -> Iterator[int]:
        for n in range(1_000_000):
            produced.append(n)
            yield n

    with ReadAhead(source(), depth=2) as items:
        assert next(items) == 0

    # Its thread has ended (the file it reads may be closed now) a few items ahead.
    assert not any(t.name == "read-ahead" for t in threading.enumerate())
    assert len(produced) < 10


def test_background_calls_run_in_order_and_raise_on_the_next_submit() -> None:
    calls: list[int] = []
    background: Background[None] = Background("test")
    try:
        for n in range(5):
            background.submit(_appending(calls, n))
        background.wait()
        assert calls == [0, 1, 2, 3, 4]

        def fail() -> None:
            raise OSError("disk full")

        background.submit(fail)
        with pytest.raises(OSError, match="disk full"):
            background.submit(lambda: None)
    finally:
        background.close()


def _appending(calls: list[int], n: int) -> Callable[[], None]:
    return lambda: calls.append(n)
