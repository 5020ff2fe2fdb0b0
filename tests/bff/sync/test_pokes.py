"""Debouncing pokes: one per burst of a user's changes, leaving out the device that made them."""

from __future__ import annotations

import asyncio

from bff.sync.pokes import Poker


async def _sent_after(
    notes: list[tuple[str, str, int, str | None]],
) -> list[tuple[str, str | None, str]]:
    sent: list[tuple[str, str | None, str]] = []

    async def send(user_id: str, except_device: str | None, key: str) -> None:
        sent.append((user_id, except_device, key))

    poker = Poker(send, debounce_s=0.05)
    for note in notes:
        poker.note(*note)
    await asyncio.sleep(0.2)
    await poker.aclose()
    return sent


async def test_a_burst_from_one_device_is_one_poke_that_leaves_it_out() -> None:
    sent = await _sent_after([("datasets", "ann", v, "phone") for v in range(1, 6)])
    assert sent == [("ann", "phone", "poke:datasets:1")]


async def test_a_change_the_server_made_pokes_every_device() -> None:
    sent = await _sent_after([("datasets", "ann", 1, "phone"), ("training", "ann", 4, None)])
    assert sent == [("ann", None, "poke:datasets:1")]


async def test_users_are_poked_separately() -> None:
    sent = await _sent_after([("bff", "ann", 1, "phone"), ("bff", "bob", 1, "tablet")])
    assert sorted(sent) == [("ann", "phone", "poke:bff:1"), ("bob", "tablet", "poke:bff:1")]


async def test_a_failed_poke_is_logged_and_the_next_burst_pokes_again() -> None:
    calls = 0

    async def send(user_id: str, except_device: str | None, key: str) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("notifications down")

    poker = Poker(send, debounce_s=0.01)
    poker.note("datasets", "ann", 1, None)
    await asyncio.sleep(0.05)
    poker.note("datasets", "ann", 2, None)
    await asyncio.sleep(0.05)
    await poker.aclose()
    assert calls == 2
