"""A dataset of the viewer."""

from __future__ import annotations

from datetime import datetime

import strawberry

from bff.graphql.types.column import Column
from proto.datasets import Dataset as DatasetRecord


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
    def from_proto(cls, dataset: DatasetRecord) -> Dataset:
        return cls(
            id=strawberry.ID(str(dataset.id)),
            name=dataset.name,
            latest_version=dataset.latest_version,
            row_count=dataset.row_count,
            columns=[Column.from_proto(column) for column in dataset.columns],
            created_at=dataset.created_at,
            updated_at=dataset.updated_at,
        )
