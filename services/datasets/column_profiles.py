"""Schema inference: each column's type, null count and distinct estimate (see column_stats)."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

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
