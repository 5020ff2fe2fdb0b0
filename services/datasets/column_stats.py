"""Per-column profile and statistics of a version, in bounded memory.

A column is read batch by batch, never whole: counts, moments (merged per batch), min and max
are exact; quantiles come from an evenly spaced sample; the histogram counts every value in a
second pass once min and max are known; top values are exact unless a column has very many
distinct values (then a bounded heavy-hitters summary); the distinct count is exact below
`SKETCH_SIZE` values and a k-minimum-values estimate above. Pure and synchronous.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from proto.datasets import ColumnStats, HistogramBin, TopValue
from services.datasets.column_profiles import ColumnProfile, column_type

QUANTILES = {"p05": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95}
HISTOGRAM_BINS = 20
TOP_VALUES = 10
SAMPLE_SIZE = 100_000
SKETCH_SIZE = 4096
BATCH_ROWS = 64 * 1024
_TOP_KEPT = 10_000  # distinct values kept by the heavy-hitters summary
_TOP_VALUE_CHARS = 200
_U64 = np.uint64
_PRIME = _U64(0x100000001B3)


@dataclass
class _Moments:
    """Count, mean and sum of squared deviations, merged batch by batch (Chan et al.)."""

    n: int = 0
    mean: float = 0.0
    m2: float = 0.0

    def add(self, values: np.ndarray) -> None:
        if values.size == 0:
            return
        n_b, mean_b = values.size, float(values.mean())
        m2_b = float(((values - mean_b) ** 2).sum())
        total = self.n + n_b
        delta = mean_b - self.mean
        self.mean += delta * n_b / total
        self.m2 += m2_b + delta * delta * self.n * n_b / total
        self.n = total


@dataclass
class _Column:
    """What one pass over a column accumulates."""

    name: str
    data_type: pa.DataType
    stride: int
    count: int = 0
    nulls: int = 0
    moments: _Moments = field(default_factory=_Moments)
    low: float = math.inf
    high: float = -math.inf
    sample: list[np.ndarray] = field(default_factory=list)
    top: pa.Table | None = None
    pending: list[pa.Table] = field(default_factory=list)
    sketch: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=_U64))

    @property
    def numeric(self) -> bool:
        return column_type(self.data_type) in ("integer", "number")

    def add(self, values: pa.Array) -> None:
        self.nulls += values.null_count
        present = values.drop_null()
        self.count += len(present)
        if not len(present) or pa.types.is_nested(values.type):
            return
        if self.numeric:
            self._add_to_sketch(_hashes(present))
            self._add_numbers(pc.cast(present, pa.float64()).to_numpy(zero_copy_only=False))
        else:
            counted = pa.Table.from_struct_array(pc.value_counts(present))
            self._add_to_sketch(_hashes(counted.column("values").combine_chunks()))
            self._add_top_values(counted)

    def _add_numbers(self, numbers: np.ndarray) -> None:
        finite = numbers[np.isfinite(numbers)]
        if not finite.size:
            return
        self.moments.add(finite)
        self.low = min(self.low, float(finite.min()))
        self.high = max(self.high, float(finite.max()))
        self.sample.append(finite[:: self.stride].copy())

    def _add_top_values(self, counted: pa.Table) -> None:
        self.pending.append(counted)
        if sum(table.num_rows for table in self.pending) > 4 * _TOP_KEPT:
            self.merge_top_values()

    def merge_top_values(self) -> None:
        """Sum the pending per-batch counts into `top`, keeping the heaviest hitters only."""
        if not self.pending:
            return
        tables = self.pending if self.top is None else [self.top, *self.pending]
        self.pending = []
        grouped = pa.concat_tables(tables).group_by("values").aggregate([("counts", "sum")])
        merged = grouped.rename_columns(["values", "counts"])
        if merged.num_rows > _TOP_KEPT:
            merged = merged.take(_heaviest(merged, _TOP_KEPT))
        self.top = merged

    def _add_to_sketch(self, hashes: np.ndarray) -> None:
        if self.sketch.size >= SKETCH_SIZE:
            hashes = hashes[hashes < self.sketch[-1]]
        merged = np.concatenate([self.sketch, hashes])
        merged.sort()
        distinct = merged[np.concatenate(([True], merged[1:] != merged[:-1]))]
        self.sketch = distinct[:SKETCH_SIZE]

    def distinct_estimate(self) -> int:
        if self.sketch.size < SKETCH_SIZE:
            return int(self.sketch.size)
        kth = float(self.sketch[SKETCH_SIZE - 1]) / 2.0**64
        return min(self.count, round((SKETCH_SIZE - 1) / kth))


def describe_columns(path: Path) -> tuple[list[ColumnProfile], list[ColumnStats]]:
    """Profile and stats of every column of a Parquet file, one column and batch at a time."""
    parquet = pq.ParquetFile(path)
    stride = max(1, math.ceil(parquet.metadata.num_rows / SAMPLE_SIZE))
    profiles: list[ColumnProfile] = []
    stats: list[ColumnStats] = []
    for column_field in parquet.schema_arrow:
        column = _Column(column_field.name, column_field.type, stride)
        for batch in _batches(parquet, column.name):
            column.add(batch)
        kind = column_type(column.data_type)
        profiles.append(ColumnProfile(column.name, kind, column.nulls, column.distinct_estimate()))
        stats.append(_finish(column, parquet))
    return profiles, stats


def _batches(parquet: pq.ParquetFile, name: str) -> Iterator[pa.Array]:
    for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=[name], use_threads=False):
        yield batch.column(0)


def _finish(column: _Column, parquet: pq.ParquetFile) -> ColumnStats:
    stats = ColumnStats(
        name=column.name,
        type=column_type(column.data_type),
        count=column.count,
        nulls=column.nulls,
    )
    if not column.numeric:
        return stats.model_copy(update={"top_values": _top_values(column)})
    if column.moments.n == 0:
        return stats
    sample = np.concatenate(column.sample)
    n = column.moments.n
    return stats.model_copy(
        update={
            "mean": column.moments.mean,
            "std": math.sqrt(column.moments.m2 / (n - 1)) if n > 1 else 0.0,
            "min": column.low,
            "max": column.high,
            "quantiles": {
                key: float(value)
                for key, value in zip(
                    QUANTILES, np.quantile(sample, list(QUANTILES.values())), strict=True
                )
            },
            "histogram": _histogram(column, parquet),
        }
    )


def _histogram(column: _Column, parquet: pq.ParquetFile) -> list[HistogramBin]:
    """Exact counts in equal-width bins between min and max: a second pass over the column."""
    edges = np.histogram_bin_edges([column.low, column.high], bins=HISTOGRAM_BINS)
    counts = np.zeros(HISTOGRAM_BINS, dtype=np.int64)
    for values in _batches(parquet, column.name):
        numbers = pc.cast(values.drop_null(), pa.float64()).to_numpy(zero_copy_only=False)
        counts += np.histogram(numbers[np.isfinite(numbers)], bins=edges)[0]
    return [
        HistogramBin(lower=float(edges[i]), upper=float(edges[i + 1]), count=int(count))
        for i, count in enumerate(counts)
    ]


def _top_values(column: _Column) -> list[TopValue] | None:
    column.merge_top_values()
    if column.top is None or column.top.num_rows == 0:
        return None
    top = column.top.take(_heaviest(column.top, TOP_VALUES))
    return [
        TopValue(value=_as_text(value), count=int(count))
        for value, count in zip(
            top.column("values").to_pylist(), top.column("counts").to_pylist(), strict=True
        )
    ]


def _heaviest(counted: pa.Table, n: int) -> pa.Array:
    """Indexes of the `n` largest counts, largest first (ties by first seen)."""
    return pc.select_k_unstable(counted, k=n, sort_keys=[("counts", "descending")])


def _hashes(values: pa.Array) -> np.ndarray:
    """64-bit hashes of values (nulls dropped): splitmix64 of fixed-width bits, or of a
    polynomial hash of the bytes for text, all vectorized."""
    data_type = values.type
    try:
        if pa.types.is_floating(data_type):
            bits = pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False).view(_U64)
            return _splitmix64(bits)
        if pa.types.is_integer(data_type) or pa.types.is_timestamp(data_type):
            bits = pc.cast(values, pa.int64()).to_numpy(zero_copy_only=False).view(_U64)
            return _splitmix64(bits)
        if pa.types.is_boolean(data_type):
            return _splitmix64(
                pc.cast(values, pa.uint8()).to_numpy(zero_copy_only=False).astype(_U64)
            )
        if (
            pa.types.is_string(data_type)
            or pa.types.is_large_string(data_type)
            or (pa.types.is_binary(data_type) or pa.types.is_large_binary(data_type))
        ):
            return _bytes_hashes(pc.cast(values, pa.large_binary()))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    mask = (1 << 64) - 1
    return np.fromiter((hash(v) & mask for v in values.to_pylist()), dtype=_U64, count=len(values))


def _bytes_hashes(values: pa.Array) -> np.ndarray:
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int64)[
        values.offset : values.offset + len(values) + 1
    ]
    first, last = int(offsets[0]), int(offsets[-1])
    data_buffer = values.buffers()[2]
    data = (
        np.frombuffer(data_buffer, dtype=np.uint8)[first:last].astype(_U64)
        if data_buffer is not None and last > first
        else np.empty(0, dtype=_U64)
    )
    lengths = np.diff(offsets)
    positions = np.arange(data.size) - np.repeat(offsets[:-1] - first, lengths)
    with np.errstate(over="ignore"):
        powers = np.cumprod(np.full(max(int(lengths.max(initial=0)), 1), _PRIME, dtype=_U64))
        sums = np.concatenate(([_U64(0)], np.cumsum(data * powers[positions], dtype=_U64)))
        per_value = sums[offsets[1:] - first] - sums[offsets[:-1] - first]
        return _splitmix64(per_value ^ _splitmix64(lengths.astype(_U64)))


def _splitmix64(bits: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = bits + _U64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> _U64(30))) * _U64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> _U64(27))) * _U64(0x94D049BB133111EB)
        return z ^ (z >> _U64(31))


def _as_text(value: object) -> str:
    if isinstance(value, bytes):
        text = value.hex()
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif hasattr(value, "isoformat"):
        text = value.isoformat()
    else:
        text = str(value)
    return text[:_TOP_VALUE_CHARS]
