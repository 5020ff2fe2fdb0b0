"""Property: phones syncing while writers commit on several services miss nothing, see no
change twice, and never see an entity go back to an older state, on SQLite and PostgreSQL.

Two services' change feeds (the kit's, in real databases) are written by concurrent writer
tasks, each a run of transactions of upserts and deletes drawn by hypothesis, while a phone
pulls through `bff.sync.pull` with small pages. After the writers finish, one more pull
catches up, and the phone's copy must equal what the databases hold.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bff.sync.cursor import SyncCursor
from bff.sync.pull import FeedReader, pull
from proto.common import FeedPage
from services.kit.change_feed import FeedTables, change_writer, read_feed
from services.kit.database import Database
from services.kit.settings import normalize_database_url
from tests.support.backends import (
    create_postgres_database,
    drop_postgres_database,
    postgres_admin_url,
)

# Two sources and the feed kinds the phone syncs from each.
SOURCES = {"datasets": ("dataset", "label"), "notifications": ("notification", "device")}
ENTITY_IDS = ("a", "b", "c", "d")

Write = tuple[str, str, bool]  # (kind, entity id, delete?)
transactions = st.lists(
    st.lists(
        st.tuples(st.sampled_from(("dataset", "label", "notification", "device")),
                  st.sampled_from(ENTITY_IDS), st.booleans()),
        min_size=1, max_size=4,
    ),
    min_size=1, max_size=6,
)  # fmt: skip
DATABASE_KINDS = ["sqlite", *(["postgresql"] if postgres_admin_url() else [])]


@pytest.fixture(scope="module", params=DATABASE_KINDS)
def database_urls(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    if request.param == "sqlite":
        folder = tmp_path_factory.mktemp("feeds")
        yield {name: f"sqlite+aiosqlite:///{folder / name}.db" for name in SOURCES}
        return
    admin = postgres_admin_url()
    assert admin is not None
    urls = {name: create_postgres_database(admin, f"prop_{name}") for name in SOURCES}
    try:
        yield {name: normalize_database_url(url) for name, url in urls.items()}
    finally:
        for url in urls.values():
            drop_postgres_database(admin, url)


@pytest.fixture(scope="module")
def created(database_urls: dict[str, str]) -> dict[str, str]:
    async def create() -> None:
        for url in database_urls.values():
            db = Database(url)
            async with db.engine.begin() as connection:
                await connection.run_sync(METADATA.create_all)
            await db.dispose()

    asyncio.run(create())
    return database_urls


METADATA = sa.MetaData()
FEED = FeedTables.on(METADATA)


def _source_of(kind: str) -> str:
    return next(name for name, kinds in SOURCES.items() if kind in kinds)


async def _write(db: Database, owner: str, transaction: list[Write], stamp: int) -> None:
    async with db.transaction() as session, change_writer(session, FEED, owner) as writer:
        for kind, entity_id, delete in transaction:
            if delete:
                await writer.record(kind, entity_id, "delete")
            else:
                await writer.record(kind, entity_id, "upsert", {"stamp": stamp})
        await asyncio.sleep(0)


def _readers(dbs: dict[str, Database]) -> dict[str, FeedReader]:
    def reader(db: Database) -> FeedReader:
        async def read(
            user_id: str, since: int, limit: int, kinds: list[str], snapshot: bool
        ) -> FeedPage:
            return await read_feed(db, FEED, user_id, since, limit, kinds=kinds, snapshot=snapshot)

        return read

    readers = {name: reader(db) for name, db in dbs.items()}

    async def nothing(
        user_id: str, since: int, limit: int, kinds: list[str], snapshot: bool
    ) -> FeedPage:
        return FeedPage(entries=[], next_since=0, has_more=False, last_seq=0)

    for source in ("bff", "training", "inference"):
        readers[source] = nothing
    return readers


class Phone:
    """The phone's copy: per kind, entity id -> (version, data); deletions drop entries."""

    def __init__(self) -> None:
        self.copy: dict[tuple[str, str], tuple[int, Any]] = {}
        self.seen: set[tuple[str, str, int]] = set()
        self.cursor: str | None = None

    async def sync(self, readers: dict[str, FeedReader], owner: str, limit: int) -> bool:
        answer = await pull(readers, owner, SyncCursor.decode(self.cursor), None, limit)
        for kind, changes in answer["changes"].items():
            for item in changes["upserts"]:
                key = (kind, item["id"])
                assert (kind, item["id"], item["version"]) not in self.seen, "a change came twice"
                self.seen.add((kind, item["id"], item["version"]))
                before = self.copy.get(key)
                assert before is None or before[0] < item["version"], "an entity went back"
                self.copy[key] = (item["version"], item["data"])
            for gone in changes["deletes"]:
                self.copy.pop((kind, gone), None)
        self.cursor = answer["cursor"]
        return bool(answer["has_more"])


async def _server_state(dbs: dict[str, Database], owner: str) -> dict[tuple[str, str], Any]:
    names = {"dataset": "datasets", "label": "labels", "notification": "notifications",
             "device": "devices"}  # fmt: skip
    state: dict[tuple[str, str], Any] = {}
    for db in dbs.values():
        page = await read_feed(db, FEED, owner, 0, 1000)
        for entry in page.entries:
            if entry.op == "upsert":
                state[(names[entry.kind], entry.id)] = (entry.seq, entry.data)
    return state


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(writers=st.lists(transactions, min_size=1, max_size=3), limit=st.integers(1, 5))
def test_syncing_phones_see_every_change_once_in_order(
    created: dict[str, str], writers: list[list[list[Write]]], limit: int
) -> None:
    owner = uuid.uuid4().hex  # each example its own user in the shared databases

    async def scenario() -> None:
        dbs = {name: Database(url) for name, url in created.items()}
        readers = _readers(dbs)
        phone = Phone()
        done = asyncio.Event()

        async def writer(runs: list[list[Write]], number: int) -> None:
            for step, transaction in enumerate(runs):
                by_source: dict[str, list[Write]] = {}
                for write in transaction:
                    by_source.setdefault(_source_of(write[0]), []).append(write)
                for source, writes in by_source.items():
                    await _write(dbs[source], owner, writes, number * 100 + step)

        async def reader() -> None:
            while not done.is_set():
                await phone.sync(readers, owner, limit)
                await asyncio.sleep(0)

        try:
            reading = asyncio.create_task(reader())
            await asyncio.gather(*(writer(runs, n) for n, runs in enumerate(writers)))
            done.set()
            await reading
            while await phone.sync(readers, owner, limit):
                pass
            assert phone.copy == await _server_state(dbs, owner)
        finally:
            for db in dbs.values():
                await db.dispose()

    asyncio.run(scenario())
