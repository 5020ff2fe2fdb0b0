"""Micro-batching: a lone call runs at once; concurrent calls share batches, each gets its rows."""

from __future__ import annotations

import asyncio

import pytest

from services.inference.batching import MicroBatcher

Batch = tuple[str, list[int]]


def _doubling_batcher(
    batches: list[Batch],
    gate: asyncio.Event | None = None,
    *,
    max_rows: int = 100,
    max_wait_s: float = 3600.0,
    max_in_flight: int = 1,
) -> MicroBatcher[str, int, int]:
    async def run_batch(model: str, rows: list[int]) -> list[int]:
        batches.append((model, list(rows)))
        if gate is not None:
            await gate.wait()
        return [2 * row for row in rows]

    return MicroBatcher(
        run_batch, max_rows=max_rows, max_wait_s=max_wait_s, max_in_flight=max_in_flight
    )


async def test_a_lone_call_runs_at_once_without_waiting_for_company() -> None:
    batches: list[Batch] = []
    # An hour of max wait: the call can only return in time if an idle model runs it at once.
    batcher = _doubling_batcher(batches, max_wait_s=3600)

    result = await asyncio.wait_for(batcher.predict("m", [1, 2]), timeout=5)

    assert result == [2, 4]
    assert batches == [("m", [1, 2])]
    assert batcher.idle


async def test_calls_queued_behind_a_running_batch_share_the_next_one() -> None:
    batches: list[Batch] = []
    gate = asyncio.Event()
    batcher = _doubling_batcher(batches, gate, max_wait_s=3600)

    first = asyncio.create_task(batcher.predict("m", [0]))
    await asyncio.sleep(0)
    queued = [asyncio.create_task(batcher.predict("m", [i, 10 * i])) for i in range(1, 6)]
    await asyncio.sleep(0)
    gate.set()
    results = await asyncio.wait_for(asyncio.gather(first, *queued), timeout=5)

    assert results[0] == [0]
    assert results[1:] == [[2 * i, 20 * i] for i in range(1, 6)]
    assert [len(rows) for _, rows in batches] == [1, 10]
    assert batcher.batches_run == 2


async def test_a_batch_never_exceeds_max_rows() -> None:
    batches: list[Batch] = []
    gate = asyncio.Event()
    batcher = _doubling_batcher(batches, gate, max_rows=4, max_wait_s=0)

    first = asyncio.create_task(batcher.predict("m", [0]))
    await asyncio.sleep(0)
    queued = [asyncio.create_task(batcher.predict("m", [i, i])) for i in range(1, 6)]
    await asyncio.sleep(0)
    gate.set()
    results = await asyncio.wait_for(asyncio.gather(first, *queued), timeout=5)

    assert results[1:] == [[2 * i, 2 * i] for i in range(1, 6)]
    assert all(len(rows) <= 4 for _, rows in batches)
    assert sum(len(rows) for _, rows in batches) == 11


async def test_a_call_larger_than_max_rows_still_runs_alone() -> None:
    batches: list[Batch] = []
    batcher = _doubling_batcher(batches, max_rows=2)

    assert await batcher.predict("m", [1, 2, 3]) == [2, 4, 6]
    assert batches == [("m", [1, 2, 3])]


async def test_under_load_a_batch_waits_at_most_max_wait_to_fill() -> None:
    batches: list[list[int]] = []
    gate = asyncio.Event()

    async def run_batch(model: str, rows: list[int]) -> list[int]:
        batches.append(rows)
        if len(batches) == 1:
            await gate.wait()  # the first batch keeps running throughout
        return [2 * row for row in rows]

    batcher: MicroBatcher[str, int, int] = MicroBatcher(
        run_batch, max_rows=100, max_wait_s=0.01, max_in_flight=2
    )
    first = asyncio.create_task(batcher.predict("m", [0]))
    await asyncio.sleep(0)
    # A slot is free but a batch is running: the next calls gather for up to 10 ms, together.
    later = asyncio.gather(batcher.predict("m", [1]), batcher.predict("m", [2]))

    assert await asyncio.wait_for(later, timeout=5) == [[2], [4]]
    assert batches[1] == [1, 2]
    gate.set()
    assert await first == [0]


async def test_a_failed_batch_fails_each_of_its_calls() -> None:
    async def broken(model: str, rows: list[int]) -> list[int]:
        raise RuntimeError("model crashed")

    batcher: MicroBatcher[str, int, int] = MicroBatcher(
        broken, max_rows=10, max_wait_s=0, max_in_flight=1
    )

    with pytest.raises(RuntimeError, match="model crashed"):
        await batcher.predict("m", [1])
    assert batcher.idle


async def test_a_caller_that_gives_up_is_left_out_of_the_batch() -> None:
    batches: list[Batch] = []
    gate = asyncio.Event()
    batcher = _doubling_batcher(batches, gate)

    first = asyncio.create_task(batcher.predict("m", [0]))
    await asyncio.sleep(0)
    abandoned = asyncio.create_task(batcher.predict("m", [7]))
    kept = asyncio.create_task(batcher.predict("m", [8]))
    await asyncio.sleep(0)
    abandoned.cancel()
    gate.set()

    assert await kept == [16]
    await first
    assert batches[1] == ("m", [8])


async def test_the_idle_callback_fires_once_nothing_is_left() -> None:
    idle_calls = 0

    def on_idle() -> None:
        nonlocal idle_calls
        idle_calls += 1

    async def run_batch(model: str, rows: list[int]) -> list[int]:
        return rows

    batcher: MicroBatcher[str, int, int] = MicroBatcher(
        run_batch, max_rows=10, max_wait_s=0, max_in_flight=1, on_idle=on_idle
    )
    await batcher.predict("m", [1])

    assert idle_calls == 1
