"""A dataset of the viewer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from bff.graphql.types.column import Column
from bff.graphql.types.json_values import catalog_entry_fields


@strawberry.type
class Dataset:
    id: strawberry.ID
    name: str
    latest_version: int
    row_count: int
    columns: list[Column]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_json(cls, dataset: dict[str, Any]) -> Dataset:
        """From a `Dataset` as the datasets service answers it."""
        return cls(
            **catalog_entry_fields(dataset),
            row_count=dataset["row_count"],
            columns=[Column.from_json(column) for column in dataset["columns"]],
        )
