"""Concurrent writes to one user's devices: each answers, and the feed tells the final state.

A phone re-registering while the app signs out (or two app instances racing) sends PUTs and
DELETEs of one device at once; none may fail with a server error or leave the change feed
saying something other than what the devices table holds.
"""

from __future__ import annotations

import asyncio

from proto.notifications import DeviceRegister
from services.kit.change_feed import read_feed
from services.kit.database import Database
from services.kit.errors import ApiError
from services.notifications import repository, service
from services.notifications.tables import FEED

USER = "racer"
ROUNDS = 30


async def _put(db: Database, token: str, device_id: str = "phone") -> str:
    register = DeviceRegister(token=token, platform="android")
    await service.register_device(db, USER, device_id, register, max_devices=10)
    return "put"


async def _delete(db: Database, device_id: str = "phone") -> str:
    try:
        await service.unregister_device(db, USER, device_id)
    except ApiError as exc:
        assert exc.status == 404, exc  # already gone: the one answer a race may give
        return "missing"
    return "deleted"


async def test_racing_puts_and_deletes_of_one_device_all_answer(db: Database) -> None:
    calls = []
    for _ in range(ROUNDS):
        calls += [_put(db, "token-aaaa"), _put(db, "token-bbbb"), _delete(db)]

    outcomes = await asyncio.gather(*calls)  # a server error would raise here

    assert outcomes.count("put") == 2 * ROUNDS
    async with db.session() as session:
        device = await repository.get_device(session, USER, "phone")
    feed = await read_feed(db, FEED, USER, 0, limit=500)
    [entry] = [entry for entry in feed.entries if entry.id == "phone"]
    assert entry.op == ("delete" if device is None else "upsert")
    assert entry.seq == feed.last_seq  # the last write to the device is the feed's last


async def test_two_devices_racing_for_one_token_end_with_one_holder(db: Database) -> None:
    calls = []
    for _ in range(20):
        calls += [_put(db, "token-shared", "phone"), _put(db, "token-shared", "tablet")]

    await asyncio.gather(*calls)

    async with db.session() as session:
        devices = await repository.devices_of(session, USER)
    assert [device.token for device in devices] == ["token-shared"]
