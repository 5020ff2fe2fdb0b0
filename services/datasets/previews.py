"""Rows of a version by cursor page, with column selection, read from its Parquet row groups."""

from __future__ import annotations

import asyncio
import base64
import uuid
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from proto.datasets import RowsPage
from services.datasets.catalog import version_row
from services.datasets.context import DatasetsContext
from services.datasets.tables import DatasetVersionRow
from services.datasets.version_files import local_copy
from services.kit.errors import invalid_input
from services.kit.paging import clamp_limit, cursor_number, encode_cursor


async def read_rows(
    ctx: DatasetsContext,
    owner_id: str,
    dataset_id: uuid.UUID,
    version: int,
    *,
    cursor: str | None,
    limit: int | None,
    columns: list[str] | None,
) -> RowsPage:
    """One page of rows (row ids are 0-based positions in the version)."""
    row = await version_row(ctx, owner_id, dataset_id, version)
    selected = _selected_columns(ctx, row, columns)
    start = _cursor_row(cursor)
    size = clamp_limit(limit)
    if start >= row.row_count:
        return RowsPage(columns=selected, row_ids=[], rows=[], next_cursor=None)
    path = await local_copy(ctx, row)
    table = await asyncio.to_thread(read_row_range, path, selected, start, size)
    end = start + table.num_rows
    return RowsPage(
        columns=selected,
        row_ids=list(range(start, end)),
        rows=_rows(table),
        next_cursor=encode_cursor({"row": end}) if end < row.row_count else None,
    )


def _selected_columns(
    ctx: DatasetsContext, row: DatasetVersionRow, columns: list[str] | None
) -> list[str]:
    names = [str(column["name"]) for column in row.columns]
    if not columns:
        selected = names
    else:
        unknown = [name for name in columns if name not in names]
        if unknown:
            raise invalid_input(
                "UNKNOWN_COLUMNS",
                f"no such columns in this version: {', '.join(unknown)}",
                columns=unknown,
            )
        selected = list(dict.fromkeys(columns))
    if len(selected) > ctx.settings.max_preview_columns:
        raise invalid_input(
            "TOO_MANY_COLUMNS",
            f"at most {ctx.settings.max_preview_columns} columns per page; select fewer",
            max_columns=ctx.settings.max_preview_columns,
        )
    return selected


def _cursor_row(cursor: str | None) -> int:
    return cursor_number(cursor, "row") or 0


def read_row_range(path: Path, columns: list[str], start: int, count: int) -> pa.Table:
    """Rows [start, start + count) of the selected columns, reading only the row groups needed."""
    parquet = pq.ParquetFile(path)
    groups: list[int] = []
    first_row = offset = 0
    for index in range(parquet.metadata.num_row_groups):
        rows = parquet.metadata.row_group(index).num_rows
        if offset + rows > start and offset < start + count:
            if not groups:
                first_row = offset
            groups.append(index)
        offset += rows
    if not groups:
        return parquet.schema_arrow.empty_table().select(columns)
    table = parquet.read_row_groups(groups, columns=columns)
    return table.slice(start - first_row, count)


def _rows(table: pa.Table) -> list[list[Any]]:
    columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
    return [[_jsonable(column[i]) for column in columns] for i in range(table.num_rows)]


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return value
