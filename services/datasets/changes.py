"""The change feed: per owner, the latest upsert or tombstone of each entity, by sequence number.

Why it never skips a change: every writing transaction first takes its owner's counter row
(`UPDATE ... SET last_seq = last_seq`), which locks it until commit (on SQLite the write lock
does the same), and only then hands out sequence numbers. So a transaction holding seq n+1
cannot exist before the one holding n has committed, and a reader that sees n+1 sees n.
Holding the lock first also serialises an owner's writers, which keeps label revision checks
free of races.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from proto.datasets import Change, ChangeFeed, ChangeKind, ChangeOp, Dataset, Label
from services.datasets.context import DatasetsContext
from services.datasets.tables import ChangeCounterRow, ChangeRow
from services.kit import change_versions
from services.kit.errors import Action, ApiError


class ChangeWriter:
    """Records the changes of one transaction under its owner's change lock."""

    def __init__(self, session: AsyncSession, owner_id: str, last_seq: int) -> None:
        self._session = session
        self.owner_id = owner_id
        self.last_seq = last_seq
        self._start = last_seq

    async def record(
        self,
        *,
        kind: ChangeKind,
        entity_key: str,
        op: ChangeOp,
        dataset_id: uuid.UUID,
        at: datetime,
        version: int | None = None,
        row_id: int | None = None,
        payload: dict[str, Any] | None = None,
    ) -> int:
        """Move the entity's change to the next sequence number; returns that number."""
        self.last_seq += 1
        await self._session.execute(
            sa.delete(ChangeRow).where(
                ChangeRow.owner_id == self.owner_id,
                ChangeRow.kind == kind,
                ChangeRow.entity_key == entity_key,
            )
        )
        self._session.add(
            ChangeRow(
                owner_id=self.owner_id,
                seq=self.last_seq,
                kind=kind,
                entity_key=entity_key,
                op=op,
                dataset_id=dataset_id,
                version=version,
                row_id=row_id,
                payload=payload,
                changed_at=at,
            )
        )
        await self._session.flush()
        return self.last_seq

    async def _save_counter(self) -> None:
        if self.last_seq != self._start:
            await self._session.execute(
                sa.update(ChangeCounterRow)
                .where(ChangeCounterRow.owner_id == self.owner_id)
                .values(last_seq=self.last_seq)
            )
            change_versions.note(self._session, self.owner_id, self.last_seq)


@asynccontextmanager
async def change_writer(session: AsyncSession, owner_id: str) -> AsyncIterator[ChangeWriter]:
    """Lock the owner's change counter; use first thing in a writing transaction."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    await session.execute(
        insert(ChangeCounterRow)
        .values(owner_id=owner_id, last_seq=0)
        .on_conflict_do_nothing(index_elements=["owner_id"])
    )
    last_seq = await session.scalar(
        sa.update(ChangeCounterRow)
        .where(ChangeCounterRow.owner_id == owner_id)
        .values(last_seq=ChangeCounterRow.last_seq)
        .returning(ChangeCounterRow.last_seq)
    )
    writer = ChangeWriter(session, owner_id, int(last_seq or 0))
    yield writer
    await writer._save_counter()


def dataset_key(dataset_id: uuid.UUID) -> str:
    return str(dataset_id)


def label_key(dataset_id: uuid.UUID, version: int, row_id: int) -> str:
    return f"{dataset_id}/{version}/{row_id}"


async def read_changes(ctx: DatasetsContext, owner_id: str, since: int, limit: int) -> ChangeFeed:
    """The owner's changes after `since`, oldest first, at most `limit`."""
    async with ctx.db.session() as session:
        last_seq = await session.scalar(
            sa.select(ChangeCounterRow.last_seq).where(ChangeCounterRow.owner_id == owner_id)
        )
        rows = list(
            await session.scalars(
                sa.select(ChangeRow)
                .where(ChangeRow.owner_id == owner_id, ChangeRow.seq > since)
                .order_by(ChangeRow.seq)
                .limit(limit + 1)
            )
        )
    if since > int(last_seq or 0):
        raise ApiError(
            409,
            "CHANGES_SINCE_AHEAD",
            f"since={since} is past the newest change ({int(last_seq or 0)}); sync again from 0",
            user_message="Your data needs a full refresh.",
            action=Action.RETRY,
            details={"last_seq": int(last_seq or 0)},
        )
    page = rows[:limit]
    return ChangeFeed(
        changes=[_change(row) for row in page],
        next_since=page[-1].seq if page else since,
        has_more=len(rows) > limit,
    )


def _change(row: ChangeRow) -> Change:
    dataset = label = None
    if row.payload is not None and row.kind == "dataset":
        dataset = Dataset.model_validate(row.payload)
    elif row.payload is not None and row.kind == "label":
        label = Label.model_validate(row.payload)
    return Change(
        seq=row.seq,
        kind=row.kind,
        op=row.op,
        dataset_id=row.dataset_id,
        version=row.version,
        row_id=row.row_id,
        dataset=dataset,
        label=label,
        changed_at=row.changed_at,
    )


async def forget_label_changes(session: AsyncSession, owner_id: str, dataset_id: uuid.UUID) -> None:
    """Drop the label entries of a deleted dataset: its tombstone stands for them."""
    await session.execute(
        sa.delete(ChangeRow).where(
            ChangeRow.owner_id == owner_id,
            ChangeRow.kind == "label",
            ChangeRow.dataset_id == dataset_id,
        )
    )
