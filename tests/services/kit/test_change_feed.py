"""The kit's change feed: what a syncing reader relies on, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from services.kit import change_versions
from services.kit.change_feed import FeedTables, change_writer, prune_tombstones, read_feed
from services.kit.database import Database
from services.kit.request_context import bind_origin_device
from services.kit.settings import normalize_database_url
from tests.support.backends import (
    create_postgres_database,
    drop_postgres_database,
    postgres_admin_url,
)

DATABASE_KINDS = ["sqlite", *(["postgresql"] if postgres_admin_url() else [])]
METADATA = sa.MetaData()
FEED = FeedTables.on(METADATA)


@pytest.fixture(params=DATABASE_KINDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'feed.db'}"
        return
    admin = postgres_admin_url()
    assert admin is not None
    url = create_postgres_database(admin, "feed")
    try:
        yield normalize_database_url(url)
    finally:
        drop_postgres_database(admin, url)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    async with database.engine.begin() as connection:
        await connection.run_sync(METADATA.create_all)
    yield database
    await database.dispose()


async def write(db: Database, owner: str, *changes: tuple[str, str, str]) -> None:
    async with db.transaction() as session, change_writer(session, FEED, owner) as writer:
        for kind, entity_id, op in changes:
            await writer.record(kind, entity_id, op, {"id": entity_id} if op == "upsert" else None)  # type: ignore[arg-type]


async def test_a_reader_gets_the_latest_state_of_each_entity_once_in_commit_order(
    db: Database,
) -> None:
    await write(db, "ann", ("note", "a", "upsert"), ("note", "b", "upsert"))
    await write(db, "ann", ("note", "a", "upsert"))  # a moves past b
    await write(db, "bob", ("note", "z", "upsert"))

    page = await read_feed(db, FEED, "ann", 0, 10)

    assert [(e.id, e.seq) for e in page.entries] == [("b", 2), ("a", 3)]
    assert (page.next_since, page.has_more, page.reset, page.last_seq) == (3, False, False, 3)
    caught_up = await read_feed(db, FEED, "ann", page.next_since, 10)
    assert caught_up.entries == [] and caught_up.next_since == 3


async def test_pages_and_kind_filters_never_skip_a_change(db: Database) -> None:
    for i in range(5):
        await write(db, "ann", ("note", f"n{i}", "upsert"), ("label", f"l{i}", "upsert"))

    seen, since, has_more = [], 0, True
    while has_more:
        page = await read_feed(db, FEED, "ann", since, 2, kinds=["label"])
        seen += [e.id for e in page.entries]
        since, has_more = page.next_since, page.has_more

    assert seen == [f"l{i}" for i in range(5)]
    assert since == 10  # caught up to the counter, past the notes it did not ask for


async def test_a_tombstone_replaces_the_upsert_and_forget_drops_children(db: Database) -> None:
    await write(db, "ann", ("dataset", "d1", "upsert"), ("label", "d1/1/0", "upsert"))
    await write(db, "ann", ("label", "d1/1/1", "upsert"), ("label", "d10/1/0", "upsert"))
    async with db.transaction() as session, change_writer(session, FEED, "ann") as writer:
        await writer.forget("label", "d1/")
        await writer.record("dataset", "d1", "delete")

    page = await read_feed(db, FEED, "ann", 0, 10)

    assert [(e.id, e.op) for e in page.entries] == [("d10/1/0", "upsert"), ("d1", "delete")]


async def test_a_reader_behind_pruned_tombstones_gets_a_resumable_snapshot(db: Database) -> None:
    await write(db, "ann", ("note", "keep", "upsert"), ("note", "gone1", "upsert"))
    await write(db, "ann", ("note", "gone1", "delete"))
    reader_since = (await read_feed(db, FEED, "ann", 0, 10)).next_since
    await write(db, "ann", ("note", "gone2", "upsert"))
    await write(db, "ann", ("note", "gone2", "delete"), ("note", "late", "upsert"))

    pruned = await prune_tombstones(db, FEED, max_age=timedelta(days=30), keep_per_owner=0)

    assert pruned == 2
    first = await read_feed(db, FEED, "ann", reader_since - 1, 1)
    assert first.reset and [e.id for e in first.entries] == ["keep"]
    rest = await read_feed(db, FEED, "ann", first.next_since, 10, snapshot=True)
    assert not rest.reset and [e.id for e in rest.entries] == ["late"]
    # A reader that was past the horizon goes on as before.
    current = await read_feed(db, FEED, "ann", rest.next_since, 10)
    assert not current.reset and current.entries == []


async def test_a_reader_ahead_of_the_feed_resnapshots(db: Database) -> None:
    await write(db, "ann", ("note", "a", "upsert"))

    page = await read_feed(db, FEED, "ann", 99, 10)

    assert page.reset and [e.id for e in page.entries] == ["a"]


async def test_the_committed_version_names_the_device_that_made_it(db: Database) -> None:
    bus = change_versions.MemoryVersionBus()
    db.on_commit(change_versions.publish_committed(bus))
    subscription = await bus.subscribe()
    bind_origin_device("phone-1")
    try:
        await write(db, "ann", ("note", "a", "upsert"))
    finally:
        bind_origin_device(None)
    await write(db, "ann", ("note", "b", "upsert"))

    events = [await asyncio.wait_for(subscription.queue.get(), 1) for _ in range(2)]

    assert events == [("ann", 1, "phone-1"), ("ann", 2, None)]
    page = await read_feed(db, FEED, "ann", 0, 10)
    assert [e.origin for e in page.entries] == ["phone-1", None]


async def test_concurrent_writers_of_one_owner_never_let_a_reader_skip(db: Database) -> None:
    async def writer(n: int) -> None:
        for i in range(10):
            await write(db, "ann", ("note", f"w{n}-{i}", "upsert"))

    seen: set[str] = set()
    since = 0

    async def reader() -> None:
        nonlocal since
        for _ in range(200):
            page = await read_feed(db, FEED, "ann", since, 7)
            seen.update(e.id for e in page.entries)
            since = page.next_since
            await asyncio.sleep(0)

    await asyncio.gather(writer(1), writer(2), writer(3), reader())
    while True:
        page = await read_feed(db, FEED, "ann", since, 50)
        seen.update(e.id for e in page.entries)
        since = page.next_since
        if not page.has_more:
            break
    assert seen == {f"w{n}-{i}" for n in (1, 2, 3) for i in range(10)}
