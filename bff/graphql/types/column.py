"""A column of a dataset and what its values look like."""

from __future__ import annotations

from typing import Any

import strawberry


@strawberry.type
class Column:
    name: str
    type: str
    nulls: int
    distinct_estimate: int

    @classmethod
    def from_json(cls, column: dict[str, Any]) -> Column:
        """From a `ColumnSchema` as the datasets service answers it."""
        return cls(
            name=column["name"],
            type=column["type"],
            nulls=column["nulls"],
            distinct_estimate=column["distinct_estimate"],
        )
