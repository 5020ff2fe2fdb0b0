"""Labels on rows of a version, written in bulk by phones that labelled offline.

Each label carries a revision that grows by one per change. A write names the revision it was
based on; when the server holds another one the write is not applied and is answered as a
conflict with the server's label, so the app can show both and let the user choose.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime

from proto.common import Page
from proto.datasets import Label, LabelBatch, LabelBatchResult, LabelConflict, LabelWrite
from services.datasets import repository
from services.datasets.catalog import version_row
from services.datasets.changes import LABEL, label_key
from services.datasets.context import DatasetsContext
from services.datasets.tables import FEED, LabelRow
from services.kit.change_feed import ChangeWriter, change_writer
from services.kit.errors import Action, ApiError, invalid_input, not_found
from services.kit.paging import clamp_limit, cursor_number, encode_cursor

_ROWS_NAMED = 20  # how many bad row ids an error names


def label_contract(row: LabelRow) -> Label:
    return Label(
        dataset_id=row.dataset_id,
        version=row.version,
        row_id=row.row_id,
        label=row.label,
        note=row.note,
        revision=row.revision,
        updated_at=row.updated_at,
    )


async def upsert_labels(
    ctx: DatasetsContext, owner_id: str, dataset_id: uuid.UUID, version: int, batch: LabelBatch
) -> LabelBatchResult:
    """Apply every write whose base revision matches; answer the others as conflicts."""
    _check_batch(ctx, batch)
    now = datetime.now(UTC)
    applied: list[Label] = []
    conflicts: list[LabelConflict] = []
    async with ctx.db.transaction() as session, change_writer(session, FEED, owner_id) as changes:
        target = await repository.get_version(session, owner_id, dataset_id, version)
        if target is None:
            raise not_found("dataset_version", f"{dataset_id} v{version}")
        _check_row_ids(batch, target.row_count)
        current = await repository.get_labels(
            session, dataset_id, version, [write.row_id for write in batch.labels]
        )
        for write in batch.labels:
            existing = current.get(write.row_id)
            if existing is not None and (existing.label, existing.note) == (
                write.label,
                write.note,
            ):
                applied.append(label_contract(existing))  # a replay: already so
                continue
            if write.base_revision != (existing.revision if existing else 0):
                conflicts.append(_conflict(write, existing))
                continue
            if existing is None and write.label is None:
                continue  # clearing a label that was never set
            row = existing or LabelRow(
                dataset_id=dataset_id, version=version, row_id=write.row_id, owner_id=owner_id
            )
            row.label, row.note, row.updated_at = write.label, write.note, now
            row.revision = (existing.revision if existing else 0) + 1
            session.add(row)
            await session.flush()
            await _record(changes, row)
            applied.append(label_contract(row))
    return LabelBatchResult(applied=applied, conflicts=conflicts)


async def _record(changes: ChangeWriter, row: LabelRow) -> None:
    await changes.record(
        LABEL,
        label_key(row.dataset_id, row.version, row.row_id),
        "upsert" if row.label is not None else "delete",
        label_contract(row).model_dump(mode="json"),  # a tombstone keeps its revision
        row.updated_at,
    )


def _conflict(write: LabelWrite, existing: LabelRow | None) -> LabelConflict:
    return LabelConflict(
        row_id=write.row_id,
        base_revision=write.base_revision,
        current=label_contract(existing) if existing is not None else None,
    )


def _check_batch(ctx: DatasetsContext, batch: LabelBatch) -> None:
    limit = ctx.settings.max_labels_per_batch
    if len(batch.labels) > limit:
        raise ApiError(
            413,
            "TOO_MANY_LABELS",
            f"the batch has {len(batch.labels)} labels, at most {limit} are allowed",
            action=Action.FIX_INPUT,
            details={"max_labels": limit},
        )
    counts = Counter(write.row_id for write in batch.labels)
    repeated = sorted(row_id for row_id, times in counts.items() if times > 1)
    if repeated:
        raise invalid_input(
            "DUPLICATE_ROW_ID",
            f"rows appear more than once in the batch: {_listed(repeated)}",
            row_ids=repeated[:_ROWS_NAMED],
        )


def _check_row_ids(batch: LabelBatch, row_count: int) -> None:
    outside = sorted(w.row_id for w in batch.labels if w.row_id >= row_count)
    if outside:
        raise invalid_input(
            "ROW_ID_OUT_OF_RANGE",
            f"the version has rows 0 to {row_count - 1}; no rows {_listed(outside)}",
            row_ids=outside[:_ROWS_NAMED],
            row_count=row_count,
        )


def _listed(row_ids: list[int]) -> str:
    more = len(row_ids) - _ROWS_NAMED
    return ", ".join(map(str, row_ids[:_ROWS_NAMED])) + (f" and {more} more" if more > 0 else "")


async def list_labels(
    ctx: DatasetsContext,
    owner_id: str,
    dataset_id: uuid.UUID,
    version: int,
    cursor: str | None,
    limit: int | None,
) -> Page[Label]:
    """The version's set labels by row id, a page at a time."""
    await version_row(ctx, owner_id, dataset_id, version)
    after = _cursor_row(cursor)
    size = clamp_limit(limit)
    async with ctx.db.session() as session:
        rows = await repository.list_labels(session, dataset_id, version, after, size)
    page = rows[:size]
    more = len(rows) > size and page
    return Page[Label](
        items=[label_contract(row) for row in page],
        next_cursor=encode_cursor({"after_row": page[-1].row_id}) if more else None,
    )


def _cursor_row(cursor: str | None) -> int:
    after = cursor_number(cursor, "after_row")
    return -1 if after is None else after
