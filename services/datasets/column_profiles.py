"""Schema inference: each column's type, null count and distinct count, read from Parquet."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from proto.datasets import ColumnType


@dataclass(frozen=True, slots=True)
class ColumnProfile:
    name: str
    type: ColumnType
    nulls: int
    distinct_estimate: int


def column_type(data_type: pa.DataType) -> ColumnType:
    """Our column type for an Arrow type; anything unusual (nested, binary, null) is a string."""
    if pa.types.is_boolean(data_type):
        return "boolean"
    if pa.types.is_integer(data_type):
        return "integer"
    if pa.types.is_floating(data_type) or pa.types.is_decimal(data_type):
        return "number"
    if pa.types.is_timestamp(data_type) or pa.types.is_date(data_type):
        return "datetime"
    return "string"


def profile_column(name: str, values: pa.ChunkedArray) -> ColumnProfile:
    """One column's profile; distinct counts non-null values, exactly (cheap at our sizes)."""
    distinct = 0
    if values.null_count < len(values) and _countable(values.type):
        distinct = pc.count_distinct(values, mode="only_valid").as_py()
    return ColumnProfile(name, column_type(values.type), values.null_count, distinct)


def profile_parquet(path: Path) -> list[ColumnProfile]:
    """Profiles of every column of a Parquet file, reading one column at a time."""
    parquet = pq.ParquetFile(path)
    return [
        profile_column(name, parquet.read(columns=[name]).column(0))
        for name in parquet.schema_arrow.names
    ]


def _countable(data_type: pa.DataType) -> bool:
    return not (pa.types.is_nested(data_type) or pa.types.is_dictionary(data_type))
