"""A column of a dataset and what its values look like."""

from __future__ import annotations

import strawberry

from proto.datasets import ColumnSchema


@strawberry.type
class Column:
    name: str
    type: str
    nulls: int
    distinct_estimate: int

    @classmethod
    def from_proto(cls, column: ColumnSchema) -> Column:
        return cls(
            name=column.name,
            type=column.type,
            nulls=column.nulls,
            distinct_estimate=column.distinct_estimate,
        )
