"""Queries of the datasets service; every read of a user's row filters by its owner."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from services.datasets.tables import (
    VERSIONS,
    DatasetRow,
    DatasetVersionRow,
    LabelRow,
    UnrecordedFileRow,
    UploadChunkRow,
    UploadRow,
)
from services.kit.paging import NewestFirst

DatasetWithLatest = tuple[DatasetRow, DatasetVersionRow]


# --- uploads -------------------------------------------------------------------------------


async def get_upload(
    session: AsyncSession, owner_id: str, upload_id: uuid.UUID
) -> UploadRow | None:
    return await session.scalar(
        sa.select(UploadRow).where(UploadRow.id == upload_id, UploadRow.owner_id == owner_id)
    )


async def count_open_uploads(session: AsyncSession, owner_id: str, now: datetime) -> int:
    count = await session.scalar(
        sa.select(sa.func.count())
        .select_from(UploadRow)
        .where(
            UploadRow.owner_id == owner_id,
            UploadRow.status == "open",
            UploadRow.expires_at > now,
        )
    )
    return int(count or 0)


async def list_chunks(session: AsyncSession, upload_id: uuid.UUID) -> list[UploadChunkRow]:
    rows = await session.scalars(
        sa.select(UploadChunkRow)
        .where(UploadChunkRow.upload_id == upload_id)
        .order_by(UploadChunkRow.n)
    )
    return list(rows)


async def get_chunk(session: AsyncSession, upload_id: uuid.UUID, n: int) -> UploadChunkRow | None:
    return await session.get(UploadChunkRow, (upload_id, n))


async def mark_upload_completed(
    session: AsyncSession, upload_id: uuid.UUID, dataset_id: uuid.UUID, version: int, now: datetime
) -> bool:
    """Claim an open upload as completed; False when it was no longer open (lost a race)."""
    result = await session.execute(
        sa.update(UploadRow)
        .where(UploadRow.id == upload_id, UploadRow.status == "open")
        .values(status="completed", dataset_id=dataset_id, version=version, completed_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def expired_open_uploads(session: AsyncSession, now: datetime, limit: int) -> list[uuid.UUID]:
    rows = await session.scalars(
        sa.select(UploadRow.id)
        .where(UploadRow.status == "open", UploadRow.expires_at <= now)
        .order_by(UploadRow.expires_at)
        .limit(limit)
    )
    return list(rows)


async def mark_uploads_expired(session: AsyncSession, upload_ids: list[uuid.UUID]) -> None:
    await session.execute(
        sa.update(UploadRow)
        .where(UploadRow.id.in_(upload_ids), UploadRow.status == "open")
        .values(status="expired")
    )
    await session.execute(sa.delete(UploadChunkRow).where(UploadChunkRow.upload_id.in_(upload_ids)))


async def upload_statuses(
    session: AsyncSession, upload_ids: list[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """The status of each of these uploads that has a row (any owner: for the sweeper)."""
    rows = await session.execute(
        sa.select(UploadRow.id, UploadRow.status).where(UploadRow.id.in_(upload_ids))
    )
    return {upload_id: status for upload_id, status in rows}


# --- unrecorded version files ----------------------------------------------------------------


async def forget_unrecorded_file(session: AsyncSession, storage_key: str) -> None:
    await session.execute(
        sa.delete(UnrecordedFileRow).where(UnrecordedFileRow.storage_key == storage_key)
    )


async def stale_unrecorded_files(session: AsyncSession, before: datetime, limit: int) -> list[str]:
    """Keys journaled before `before` whose version was never recorded, oldest first."""
    rows = await session.scalars(
        sa.select(UnrecordedFileRow.storage_key)
        .where(UnrecordedFileRow.created_at < before)
        .order_by(UnrecordedFileRow.created_at)
        .limit(limit)
    )
    return list(rows)


async def referenced_storage_keys(session: AsyncSession, storage_keys: list[str]) -> set[str]:
    """Those of these keys that a version row points at."""
    rows = await session.scalars(
        sa.select(DatasetVersionRow.storage_key).where(
            DatasetVersionRow.storage_key.in_(storage_keys)
        )
    )
    return set(rows)


async def forget_unrecorded_files(session: AsyncSession, storage_keys: list[str]) -> None:
    await session.execute(
        sa.delete(UnrecordedFileRow).where(UnrecordedFileRow.storage_key.in_(storage_keys))
    )


# --- datasets ------------------------------------------------------------------------------


def _with_latest() -> sa.Select[DatasetRow, DatasetVersionRow]:
    return sa.select(DatasetRow, DatasetVersionRow).join(
        DatasetVersionRow,
        sa.and_(
            DatasetVersionRow.dataset_id == DatasetRow.id,
            DatasetVersionRow.version == DatasetRow.latest_version,
        ),
    )


async def get_dataset(
    session: AsyncSession,
    owner_id: str,
    dataset_id: uuid.UUID,
    *,
    for_update: bool = False,
    include_deleted: bool = False,
) -> DatasetRow | None:
    stmt = sa.select(DatasetRow).where(DatasetRow.id == dataset_id, DatasetRow.owner_id == owner_id)
    if not include_deleted:
        stmt = stmt.where(DatasetRow.deleted_at.is_(None))
    if for_update:
        stmt = stmt.with_for_update()
    return await session.scalar(stmt)


async def get_dataset_with_latest(
    session: AsyncSession, owner_id: str, dataset_id: uuid.UUID
) -> DatasetWithLatest | None:
    row = (
        await session.execute(
            _with_latest().where(
                DatasetRow.id == dataset_id,
                DatasetRow.owner_id == owner_id,
                DatasetRow.deleted_at.is_(None),
            )
        )
    ).first()
    return None if row is None else (row[0], row[1])


# The owner's datasets with their latest version's shape, for a list or a batch read: plain
# rows, no ORM.
_DATASET_FIELDS = (
    sa.select(
        DatasetRow.id,
        DatasetRow.name,
        DatasetRow.owner_id,
        DatasetRow.latest_version,
        DatasetVersionRow.row_count,
        DatasetVersionRow.columns,
        DatasetRow.created_at,
        DatasetRow.updated_at,
        VERSIONS.column,
    )
    .join(
        DatasetVersionRow,
        sa.and_(
            DatasetVersionRow.dataset_id == DatasetRow.id,
            DatasetVersionRow.version == DatasetRow.latest_version,
        ),
    )
    .where(DatasetRow.owner_id == sa.bindparam("owner_id"), DatasetRow.deleted_at.is_(None))
)
DATASET_LIST = NewestFirst.of(_DATASET_FIELDS, DatasetRow.updated_at, DatasetRow.id)
DATASET_BATCH = _DATASET_FIELDS.where(DatasetRow.id.in_(sa.bindparam("ids", expanding=True)))


async def list_versions(
    session: AsyncSession, dataset_id: uuid.UUID, before: int | None, limit: int
) -> list[DatasetVersionRow]:
    """The dataset's versions, newest first, below `before`: up to `limit` + 1 rows."""
    stmt = sa.select(DatasetVersionRow).where(DatasetVersionRow.dataset_id == dataset_id)
    if before is not None:
        stmt = stmt.where(DatasetVersionRow.version < before)
    rows = await session.scalars(stmt.order_by(DatasetVersionRow.version.desc()).limit(limit + 1))
    return list(rows)


async def get_version(
    session: AsyncSession, owner_id: str, dataset_id: uuid.UUID, version: int
) -> DatasetVersionRow | None:
    return await session.scalar(
        sa.select(DatasetVersionRow)
        .join(DatasetRow, DatasetRow.id == DatasetVersionRow.dataset_id)
        .where(
            DatasetVersionRow.dataset_id == dataset_id,
            DatasetVersionRow.version == version,
            DatasetRow.owner_id == owner_id,
            DatasetRow.deleted_at.is_(None),
        )
    )


async def get_versions(
    session: AsyncSession, owner_id: str, keys: list[tuple[uuid.UUID, int]]
) -> list[DatasetVersionRow]:
    """Those of these (dataset, version) pairs that exist in the owner's live datasets."""
    wanted = sa.tuple_(DatasetVersionRow.dataset_id, DatasetVersionRow.version).in_(keys)
    rows = await session.scalars(
        sa.select(DatasetVersionRow)
        .join(DatasetRow, DatasetRow.id == DatasetVersionRow.dataset_id)
        .where(wanted, DatasetRow.owner_id == owner_id, DatasetRow.deleted_at.is_(None))
    )
    return list(rows)


# --- labels --------------------------------------------------------------------------------


async def get_labels(
    session: AsyncSession, dataset_id: uuid.UUID, version: int, row_ids: list[int]
) -> dict[int, LabelRow]:
    rows = await session.scalars(
        sa.select(LabelRow).where(
            LabelRow.dataset_id == dataset_id,
            LabelRow.version == version,
            LabelRow.row_id.in_(row_ids),
        )
    )
    return {row.row_id: row for row in rows}


async def list_labels(
    session: AsyncSession, dataset_id: uuid.UUID, version: int, after_row: int, limit: int
) -> list[LabelRow]:
    """Set labels by row id from just after `after_row`: up to `limit` + 1 rows."""
    rows = await session.scalars(
        sa.select(LabelRow)
        .where(
            LabelRow.dataset_id == dataset_id,
            LabelRow.version == version,
            LabelRow.row_id > after_row,
            LabelRow.label.is_not(None),
        )
        .order_by(LabelRow.row_id)
        .limit(limit + 1)
    )
    return list(rows)


async def store_stats(
    session: AsyncSession, dataset_id: uuid.UUID, version: int, stats: list[dict[str, Any]]
) -> None:
    """Keep a version's stats unless another request stored them first."""
    await session.execute(
        sa.update(DatasetVersionRow)
        .where(
            DatasetVersionRow.dataset_id == dataset_id,
            DatasetVersionRow.version == version,
            DatasetVersionRow.stats.is_(None),
        )
        .values(stats=stats)
    )
