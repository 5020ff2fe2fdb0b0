"""The change feed every service keeps: per owner, the latest upsert or tombstone of each
user-visible entity, numbered in commit order.

Why a reader never misses a change: every writing transaction first takes its owner's counter
row (`change_counters`, an upsert that locks the row until commit; on SQLite the write lock
does the same) and only then hands out sequence numbers. So a transaction holding seq n+1
cannot commit before the one holding n, and a reader that reads up to the counter it saw
has seen everything at or below it.

The feed is compacted: an entity has one entry, its latest state (the contract's JSON, so a
reader needs no second query) or its tombstone; a write moves it to a new number. Live
entities are never pruned (the feed is the snapshot a new device pages through); tombstones
are, by age and by count per owner, and the highest pruned number becomes the owner's
`pruned_seq`. A reader whose `since` is below it (or past the counter: a restored database)
could have missed a deletion, so its page starts a snapshot: the whole compacted feed from 0,
marked `reset`, and the reader drops what the snapshot does not bring back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from proto.common import FeedEntry, FeedOp, FeedPage
from services.kit import change_versions
from services.kit.clock import utc_now
from services.kit.database import Database, UtcDateTime
from services.kit.request_context import current_origin_device

ENTRY_ID_LENGTH = 200


@dataclass(frozen=True, slots=True)
class FeedTables:
    """A service's `change_counters` and `change_feed` tables, on its metadata."""

    counters: sa.Table
    entries: sa.Table

    @classmethod
    def on(cls, metadata: sa.MetaData) -> FeedTables:
        counters = metadata.tables.get("change_counters")
        if counters is None:
            counters = change_versions.counter_table(metadata)
        entries = metadata.tables.get("change_feed")
        if entries is None:
            entries = sa.Table(
                "change_feed",
                metadata,
                sa.Column("owner_id", sa.String(200), primary_key=True),
                sa.Column("seq", sa.BigInteger, primary_key=True),
                sa.Column("kind", sa.String(40), nullable=False),
                sa.Column("entity_id", sa.String(ENTRY_ID_LENGTH), nullable=False),
                sa.Column("op", sa.String(8), nullable=False),
                sa.Column("data", sa.JSON, nullable=True),
                sa.Column("origin", sa.String(128), nullable=True),
                sa.Column("changed_at", UtcDateTime, nullable=False),
                sa.UniqueConstraint("owner_id", "kind", "entity_id", name="uq_change_feed_entity"),
                sa.Index("ix_change_feed_tombstones", "op", "changed_at"),
            )
        return cls(counters, entries)


def _insert(session: AsyncSession) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


class ChangeWriter:
    """Records the changes of one transaction, under its owner's counter lock."""

    def __init__(
        self,
        session: AsyncSession,
        tables: FeedTables,
        owner_id: str,
        last_seq: int,
        origin: str | None,
    ) -> None:
        self._session = session
        self._tables = tables
        self.owner_id = owner_id
        self.last_seq = last_seq
        self._start = last_seq
        self._origin = origin

    async def record(
        self,
        kind: str,
        entity_id: str,
        op: FeedOp,
        data: dict[str, Any] | None = None,
        at: datetime | None = None,
    ) -> int:
        """Move the entity's entry to the next sequence number; returns that number. A
        tombstone may carry data too (what a client needs to write the entity again)."""
        await self.record_many(kind, [(entity_id, data)], op, at)
        return self.last_seq

    async def record_many(
        self,
        kind: str,
        items: Sequence[tuple[str, dict[str, Any] | None]],
        op: FeedOp,
        at: datetime | None = None,
    ) -> None:
        """Record several entities of one kind at once (e.g. notifications marked read)."""
        if not items:
            return
        entries = self._tables.entries
        at = at or utc_now()
        ids = [entity_id for entity_id, _ in items]
        for start in range(0, len(ids), 500):  # bound the IN list
            await self._session.execute(
                sa.delete(entries).where(
                    entries.c.owner_id == self.owner_id,
                    entries.c.kind == kind,
                    entries.c.entity_id.in_(ids[start : start + 500]),
                )
            )
        rows = []
        for entity_id, data in items:
            self.last_seq += 1
            rows.append(
                {
                    "owner_id": self.owner_id,
                    "seq": self.last_seq,
                    "kind": kind,
                    "entity_id": entity_id,
                    "op": op,
                    "data": data,
                    "origin": self._origin,
                    "changed_at": at,
                }
            )
        await self._session.execute(sa.insert(entries), rows)

    async def forget(self, kind: str, id_prefix: str) -> None:
        """Drop the entries of `kind` whose id starts with `id_prefix`, without a tombstone:
        for children a parent's tombstone stands for (the labels of a deleted dataset)."""
        entries = self._tables.entries
        await self._session.execute(
            sa.delete(entries).where(
                entries.c.owner_id == self.owner_id,
                entries.c.kind == kind,
                entries.c.entity_id.startswith(id_prefix, autoescape=True),
            )
        )

    def _finish(self) -> None:
        if self.last_seq != self._start:
            change_versions.note(self._session, self.owner_id, self.last_seq, self._origin)


@asynccontextmanager
async def change_writer(
    session: AsyncSession, tables: FeedTables, owner_id: str
) -> AsyncIterator[ChangeWriter]:
    """Lock the owner's counter; use first thing in a writing transaction. The changes go
    out as one new version when the transaction commits; the request's device (if a phone
    made it) is recorded as their origin, so its other devices are the ones poked."""
    counters = tables.counters
    upsert = _insert(session)(counters).values(owner_id=owner_id, last_seq=0, pruned_seq=0)
    last_seq = await session.scalar(
        upsert.on_conflict_do_update(
            index_elements=[counters.c.owner_id], set_={"last_seq": counters.c.last_seq}
        ).returning(counters.c.last_seq)
    )
    writer = ChangeWriter(session, tables, owner_id, int(last_seq or 0), current_origin_device())
    yield writer
    if writer.last_seq != writer._start:
        await session.execute(
            sa.update(counters)
            .where(counters.c.owner_id == owner_id)
            .values(last_seq=writer.last_seq)
        )
    writer._finish()


async def read_feed(
    db: Database,
    tables: FeedTables,
    owner_id: str,
    since: int,
    limit: int,
    *,
    kinds: Iterable[str] | None = None,
    snapshot: bool = False,
) -> FeedPage:
    """The owner's entries after `since`, oldest first, at most `limit`.

    `snapshot` says the reader is paging through a snapshot it was told to start (`reset`):
    then a `since` below the pruned horizon is expected. Otherwise such a `since`, or one past
    the newest change, starts a snapshot: the page is read from 0 and says `reset`.
    """
    counters, entries = tables.counters, tables.entries
    kinds = sorted(set(kinds)) if kinds is not None else None
    async with db.session() as session:
        counter = (
            await session.execute(
                sa.select(counters.c.last_seq, counters.c.pruned_seq).where(
                    counters.c.owner_id == owner_id
                )
            )
        ).first()
        last_seq, pruned_seq = (int(counter[0]), int(counter[1] or 0)) if counter else (0, 0)
        reset = since > last_seq or (not snapshot and 0 < since < pruned_seq)
        if reset or (since == 0 and pruned_seq > 0):
            since, reset = 0, True
        query = (
            sa.select(entries)
            .where(
                entries.c.owner_id == owner_id,
                entries.c.seq > since,
                entries.c.seq <= last_seq,  # committed before the counter was read
            )
            .order_by(entries.c.seq)
            .limit(limit + 1)
        )
        if kinds is not None:
            query = query.where(entries.c.kind.in_(kinds))
        rows = (await session.execute(query)).all()
    page = rows[:limit]
    has_more = len(rows) > limit
    change_versions.answer(last_seq)
    return FeedPage(
        entries=[
            FeedEntry(
                seq=row.seq,
                kind=row.kind,
                id=row.entity_id,
                op=row.op,
                data=row.data,
                origin=row.origin,
                at=row.changed_at,
            )
            for row in page
        ],
        # Caught up: everything up to the counter is read, also what the kinds filtered out.
        next_since=page[-1].seq if has_more else last_seq,
        has_more=has_more,
        reset=reset,
        last_seq=last_seq,
    )


async def prune_tombstones(
    db: Database,
    tables: FeedTables,
    *,
    max_age: timedelta,
    keep_per_owner: int,
    owners_per_round: int = 100,
) -> int:
    """Drop tombstones older than `max_age`, and past the newest `keep_per_owner` of an
    owner; raise each owner's `pruned_seq` to what went. Returns how many went."""
    counters, entries = tables.counters, tables.entries
    cutoff = utc_now() - max_age
    tombstones = entries.c.op == "delete"
    async with db.session() as session:
        aged = sa.select(entries.c.owner_id).where(tombstones, entries.c.changed_at < cutoff)
        crowded = (
            sa.select(entries.c.owner_id)
            .where(tombstones)
            .group_by(entries.c.owner_id)
            .having(sa.func.count() > keep_per_owner)
        )
        owners = list(await session.scalars(aged.union(crowded).limit(owners_per_round)))
    pruned = 0
    for owner_id in owners:
        async with db.transaction() as session:
            await session.execute(  # the owner's writers wait: the horizon moves atomically
                sa.update(counters)
                .where(counters.c.owner_id == owner_id)
                .values(last_seq=counters.c.last_seq)
            )
            kept = (
                sa.select(entries.c.seq)
                .where(entries.c.owner_id == owner_id, tombstones)
                .order_by(entries.c.seq.desc())
                .limit(keep_per_owner)
            )
            doomed = sa.and_(
                entries.c.owner_id == owner_id,
                tombstones,
                sa.or_(entries.c.changed_at < cutoff, entries.c.seq.not_in(kept.scalar_subquery())),
            )
            horizon = await session.scalar(sa.select(sa.func.max(entries.c.seq)).where(doomed))
            if horizon is None:
                continue
            result = await session.execute(sa.delete(entries).where(doomed))
            pruned += int(getattr(result, "rowcount", 0) or 0)
            await session.execute(
                sa.update(counters)
                .where(counters.c.owner_id == owner_id)
                .values(pruned_seq=sa.func.max(counters.c.pruned_seq, horizon))
                if session.get_bind().dialect.name == "sqlite"
                else sa.update(counters)
                .where(counters.c.owner_id == owner_id)
                .values(pruned_seq=sa.func.greatest(counters.c.pruned_seq, horizon))
            )
    return pruned
