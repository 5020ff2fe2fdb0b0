"""The owner's datasets: list (cursor-paginated), get, delete; their versions (list, get), each
version's content and stats."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from proto.common import Batch, Page
from proto.datasets import (
    ColumnSchema,
    ColumnStats,
    Dataset,
    DatasetVersion,
    VersionKey,
    VersionStats,
)
from services.datasets import repository
from services.datasets.changes import DATASET, dataset_key, forget_children
from services.datasets.context import DatasetsContext
from services.datasets.parsing import describe_parquet
from services.datasets.tables import FEED, VERSIONS, DatasetRow, DatasetVersionRow
from services.datasets.version_files import local_copy
from services.kit.change_feed import change_writer
from services.kit.change_versions import rows_data
from services.kit.errors import ApiError, not_found
from services.kit.file_store import StoredFileMissing
from services.kit.paging import (
    clamp_limit,
    cursor_number,
    cursor_position,
    encode_cursor,
    split_page,
)
from services.kit.responses import JsonPage


@dataclass(frozen=True, slots=True)
class VersionContent:
    """A version's Parquet bytes, streamed from the file store."""

    chunks: AsyncIterator[bytes]
    size: int
    sha256: str
    filename: str


def version_contract(row: DatasetVersionRow) -> DatasetVersion:
    return DatasetVersion(
        dataset_id=row.dataset_id,
        version=row.version,
        format=row.format,
        row_count=row.row_count,
        size_bytes=row.size_bytes,
        sha256=row.sha256,
        columns=[ColumnSchema.model_validate(column) for column in row.columns],
        created_at=row.created_at,
        source_encoding=row.source_encoding,
    )


def dataset_contract(dataset: DatasetRow, latest: DatasetVersionRow) -> Dataset:
    return Dataset(
        id=dataset.id,
        name=dataset.name,
        owner_id=dataset.owner_id,
        latest_version=dataset.latest_version,
        row_count=latest.row_count,
        columns=[ColumnSchema.model_validate(column) for column in latest.columns],
        created_at=dataset.created_at,
        updated_at=dataset.updated_at,
    )


async def list_datasets(
    ctx: DatasetsContext, owner_id: str, cursor: str | None, limit: int | None
) -> JsonPage:
    """The owner's datasets, most recently updated first (the `Page[Dataset]` contract)."""
    size = clamp_limit(limit)
    statement, params = repository.DATASET_LIST.bind(
        cursor_position(cursor), size, owner_id=owner_id
    )
    rows = await ctx.db.fetch_all(statement, params)
    await VERSIONS.answer(ctx.db, owner_id, rows)
    page, next_cursor = split_page(rows, size, lambda row: (row.updated_at, row.id))
    return {"items": rows_data(page), "next_cursor": next_cursor}


async def read_datasets(
    ctx: DatasetsContext, owner_id: str, ids: list[uuid.UUID]
) -> dict[str, list[dict[str, Any]]]:
    """Those of these datasets that are the owner's (the `Batch[Dataset]` contract)."""
    rows = await ctx.db.fetch_all(
        repository.DATASET_BATCH, {"owner_id": owner_id, "ids": list(set(ids))}
    )
    await VERSIONS.answer(ctx.db, owner_id, rows)
    return {"items": rows_data(rows)}


async def read_versions(
    ctx: DatasetsContext, owner_id: str, keys: list[VersionKey]
) -> Batch[DatasetVersion]:
    """Those of these versions that belong to the owner's datasets."""
    pairs = list({(key.dataset_id, key.version) for key in keys})
    async with ctx.db.session() as session:
        rows = await repository.get_versions(session, owner_id, pairs)
    return Batch[DatasetVersion](items=[version_contract(row) for row in rows])


async def get_dataset(ctx: DatasetsContext, owner_id: str, dataset_id: uuid.UUID) -> Dataset:
    """One of the owner's datasets with its latest version's shape."""
    async with ctx.db.session() as session:
        found = await repository.get_dataset_with_latest(session, owner_id, dataset_id)
    if found is None:
        raise not_found("dataset", dataset_id)
    return dataset_contract(*found)


async def list_versions(
    ctx: DatasetsContext,
    owner_id: str,
    dataset_id: uuid.UUID,
    cursor: str | None,
    limit: int | None,
) -> Page[DatasetVersion]:
    """The versions of one of the owner's datasets, newest first."""
    size = clamp_limit(limit)
    before = _cursor_version(cursor)
    async with ctx.db.session() as session:
        if await repository.get_dataset(session, owner_id, dataset_id) is None:
            raise not_found("dataset", dataset_id)
        rows = await repository.list_versions(session, dataset_id, before, size)
    page = rows[:size]
    more = len(rows) > size and page
    return Page[DatasetVersion](
        items=[version_contract(row) for row in page],
        next_cursor=encode_cursor({"before_version": page[-1].version}) if more else None,
    )


def _cursor_version(cursor: str | None) -> int | None:
    return cursor_number(cursor, "before_version", minimum=1)


async def get_version(
    ctx: DatasetsContext, owner_id: str, dataset_id: uuid.UUID, version: int
) -> DatasetVersion:
    """One version of one of the owner's datasets."""
    return version_contract(await version_row(ctx, owner_id, dataset_id, version))


async def open_version_content(
    ctx: DatasetsContext, owner_id: str, dataset_id: uuid.UUID, version: int
) -> VersionContent:
    """The version's Parquet file, ready to stream."""
    row = await version_row(ctx, owner_id, dataset_id, version)
    try:
        size = await ctx.files.size(row.storage_key)
    except StoredFileMissing as exc:
        raise ApiError(
            500, "DATASET_CONTENT_MISSING", f"the content of {dataset_id} v{version} is missing"
        ) from exc
    return VersionContent(
        chunks=ctx.files.iter_bytes(row.storage_key),
        size=size,
        sha256=row.sha256,
        filename=f"{dataset_id}-v{version}.parquet",
    )


async def get_version_stats(
    ctx: DatasetsContext, owner_id: str, dataset_id: uuid.UUID, version: int
) -> VersionStats:
    """The per-column statistics stored when the version was created (computed once if absent)."""
    row = await version_row(ctx, owner_id, dataset_id, version)
    stats = row.stats if row.stats is not None else await _compute_stats(ctx, row)
    return VersionStats(
        dataset_id=dataset_id,
        version=version,
        row_count=row.row_count,
        columns=[ColumnStats.model_validate(column) for column in stats],
    )


async def _compute_stats(ctx: DatasetsContext, row: DatasetVersionRow) -> list[dict[str, Any]]:
    """For a version stored before stats existed: describe it now and keep the result."""
    path = await local_copy(ctx, row)
    described = await asyncio.to_thread(describe_parquet, path, row.row_count)
    stats = [column.model_dump(mode="json") for column in described.stats]
    async with ctx.db.transaction() as session:
        await repository.store_stats(session, row.dataset_id, row.version, stats)
    return stats


async def delete_dataset(ctx: DatasetsContext, owner_id: str, dataset_id: uuid.UUID) -> None:
    """Soft-delete: the dataset disappears from every read and leaves a tombstone in the feed.

    Deleting an already deleted dataset of the owner is a no-op, so an offline queue may
    replay it.
    """
    now = datetime.now(UTC)
    async with ctx.db.transaction() as session, change_writer(session, FEED, owner_id) as changes:
        dataset = await repository.get_dataset(
            session, owner_id, dataset_id, for_update=True, include_deleted=True
        )
        if dataset is None:
            raise not_found("dataset", dataset_id)
        if dataset.deleted_at is not None:
            return
        dataset.deleted_at = now
        dataset.updated_at = now
        await forget_children(changes, dataset_id)
        await changes.record(DATASET, dataset_key(dataset_id), "delete", at=now)


async def version_row(
    ctx: DatasetsContext, owner_id: str, dataset_id: uuid.UUID, version: int
) -> DatasetVersionRow:
    async with ctx.db.session() as session:
        row = await repository.get_version(session, owner_id, dataset_id, version)
    if row is None:
        raise not_found("dataset_version", f"{dataset_id} v{version}")
    return row
