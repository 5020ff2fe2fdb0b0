"""The change feed never lets a reader skip a change, even when writers commit out of order.

On PostgreSQL two transactions can take sequence numbers 1 and 2 and commit 2 first; a reader
that saw 2 would then never ask for 1. The feed's per-user counter row makes the second writer
wait for the first, so this cannot happen. On SQLite the counter bump is the transaction's first
write, so the database's single write lock orders writers the same way (and those of every
other user too). Runs on SQLite, and on PostgreSQL when TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime

from services.kit.database import Database
from services.notifications import changes


async def _write(db: Database, owner: str, entity_id: str, hold_s: float) -> None:
    async with db.transaction() as session:
        await changes.record(session, owner, "notification", [entity_id], "upsert", _now())
        await asyncio.sleep(hold_s)  # commit late: the out-of-order case


async def _write_until(db: Database, owner: str, entity_id: str, release: asyncio.Event) -> None:
    async with db.transaction() as session:
        await changes.record(session, owner, "notification", [entity_id], "upsert", _now())
        await release.wait()


async def test_a_later_writer_waits_for_an_earlier_one(db: Database) -> None:
    first = asyncio.create_task(_write(db, "u", "first", hold_s=0.5))
    await asyncio.sleep(0.1)
    second = asyncio.create_task(_write(db, "u", "second", hold_s=0.0))
    await asyncio.sleep(0.2)
    assert not second.done()  # blocked behind the first's counter lock
    async with db.session() as session:
        assert (await changes.changes_since(session, "u", 0, 10, 100)).changes == []
    await asyncio.gather(first, second)
    async with db.session() as session:
        page = await changes.changes_since(session, "u", 0, 10, 100)
    assert [(c.seq, c.entity_id) for c in page.changes] == [(1, "first"), (2, "second")]


async def test_only_a_single_writer_database_makes_other_users_wait(db: Database) -> None:
    # PostgreSQL locks one user's counter row; SQLite has one write lock for the whole file.
    release = asyncio.Event()
    first = asyncio.create_task(_write_until(db, "u", "first", release))
    await asyncio.sleep(0.1)
    other = asyncio.create_task(_write(db, "v", "other", hold_s=0.0))
    if db.is_sqlite:
        await asyncio.sleep(0.2)
        assert not other.done()  # behind the first writer's lock
    else:
        await other  # not blocked by another user's open transaction
        assert not first.done()
    release.set()
    await asyncio.gather(first, other)
    async with db.session() as session:
        u = await changes.changes_since(session, "u", 0, 10, 100)
        v = await changes.changes_since(session, "v", 0, 10, 100)
    assert [(c.seq, c.entity_id) for c in u.changes] == [(1, "first")]
    assert [(c.seq, c.entity_id) for c in v.changes] == [(1, "other")]


async def test_a_polling_reader_sees_every_change_of_racing_writers(db: Database) -> None:
    writers = 12 if db.is_sqlite else 40
    rng = random.Random(7)
    done = asyncio.Event()
    seen: list[int] = []

    async def read_forever() -> None:
        since = 0
        while True:
            finished = done.is_set()
            async with db.session() as session:
                page = await changes.changes_since(session, "u", since, 7, 100)
            seen.extend(c.seq for c in page.changes)
            since = page.next_since
            if finished and not page.has_more and not page.changes:
                return
            await asyncio.sleep(0.002)

    reader = asyncio.create_task(read_forever())
    await asyncio.gather(
        *(_write(db, "u", f"w{i}", hold_s=rng.uniform(0, 0.05)) for i in range(writers))
    )
    done.set()
    await reader
    assert seen == list(range(1, writers + 1))  # in order, none skipped, none twice


async def test_users_have_their_own_sequences(db: Database) -> None:
    await _write(db, "a", "x", 0)
    await _write(db, "b", "y", 0)
    await _write(db, "a", "z", 0)
    async with db.session() as session:
        a = await changes.changes_since(session, "a", 0, 10, 100)
        b = await changes.changes_since(session, "b", 0, 10, 100)
    assert [(c.seq, c.entity_id) for c in a.changes] == [(1, "x"), (2, "z")]
    assert [(c.seq, c.entity_id) for c in b.changes] == [(1, "y")]


def _now() -> datetime:
    return datetime.now(UTC)
