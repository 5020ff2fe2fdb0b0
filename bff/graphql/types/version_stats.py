"""Per-column statistics of one dataset version."""

from __future__ import annotations

import strawberry
from strawberry.scalars import JSON

from proto.datasets import ColumnStats as ColumnStatsContract
from proto.datasets import VersionStats as VersionStatsContract


@strawberry.type
class HistogramBin:
    lower: float
    upper: float
    count: int


@strawberry.type
class TopValue:
    value: str
    count: int


@strawberry.type
class ColumnStats:
    """Numbers get moments, quantiles (`{"p50": ...}`) and a histogram; others top values."""

    name: str
    type: str
    count: int
    nulls: int
    mean: float | None
    std: float | None
    min: float | None
    max: float | None
    quantiles: JSON | None
    histogram: list[HistogramBin] | None
    top_values: list[TopValue] | None

    @classmethod
    def from_model(cls, column: ColumnStatsContract) -> ColumnStats:
        return cls(
            name=column.name,
            type=column.type,
            count=column.count,
            nulls=column.nulls,
            mean=column.mean,
            std=column.std,
            min=column.min,
            max=column.max,
            quantiles=JSON(column.quantiles) if column.quantiles is not None else None,
            histogram=None
            if column.histogram is None
            else [
                HistogramBin(lower=b.lower, upper=b.upper, count=b.count) for b in column.histogram
            ],
            top_values=None
            if column.top_values is None
            else [TopValue(value=t.value, count=t.count) for t in column.top_values],
        )


@strawberry.type
class VersionStats:
    version: int
    row_count: int
    columns: list[ColumnStats]

    @classmethod
    def from_model(cls, stats: VersionStatsContract) -> VersionStats:
        """From `VersionStats` as the datasets service answers them."""
        return cls(
            version=stats.version,
            row_count=stats.row_count,
            columns=[ColumnStats.from_model(column) for column in stats.columns],
        )
