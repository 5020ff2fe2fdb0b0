"""Per-column profile and statistics of a version, in bounded memory.

Columns are fed a table at a time, never whole: while a file is converted (so the stats cost no
second read of the data), or batch by batch from a stored Parquet file. Counts, moments (merged
per batch), min and max are exact; quantiles come from an evenly spaced sample; the histogram
counts every value in a second pass over the numeric columns once min and max are known; top
values are exact unless a column has very many distinct values (then a bounded heavy-hitters
summary); the distinct count is exact below `SKETCH_SIZE` values and a k-minimum-values
estimate above. Pure and synchronous.
"""

from __future__ import annotations

import itertools
import math
import os
from concurrent.futures import ThreadPoolExecutor
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
_HASH_SLICE_BYTES = 256 * 1024
_HISTOGRAM_THREADS = min(4, os.cpu_count() or 1)
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
class _Sample:
    """Every `stride`-th value by position over all batches, evenly spaced without knowing the
    count up front: past 2 * SAMPLE_SIZE values it keeps every other one and doubles `stride`.
    Up to that size every value is kept, so small columns get exact quantiles."""

    stride: int = 1
    seen: int = 0
    kept: list[np.ndarray] = field(default_factory=list)
    size: int = 0

    def add(self, values: np.ndarray) -> None:
        taken = values[(-self.seen) % self.stride :: self.stride].copy()
        self.seen += values.size
        self.kept.append(taken)
        self.size += taken.size
        while self.size > 2 * SAMPLE_SIZE:
            thinned = np.concatenate(self.kept)[::2]
            self.kept, self.size, self.stride = [thinned], thinned.size, self.stride * 2

    def values(self) -> np.ndarray:
        return np.concatenate(self.kept)


@dataclass
class _Column:
    """What one pass over a column accumulates."""

    name: str
    data_type: pa.DataType
    count: int = 0
    nulls: int = 0
    moments: _Moments = field(default_factory=_Moments)
    low: float = math.inf
    high: float = -math.inf
    sample: _Sample = field(default_factory=_Sample)
    top: pa.Table | None = None
    pending: list[pa.Table] = field(default_factory=list)
    sketch: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=_U64))

    @property
    def numeric(self) -> bool:
        return column_type(self.data_type) in ("integer", "number")

    def add(self, values: pa.Array | pa.ChunkedArray) -> None:
        self.nulls += values.null_count
        present = values.drop_null() if values.null_count else values
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
        self.sample.add(finite)

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
        # One thread: faster at these sizes, and it holds less memory while a conversion runs.
        grouped = (
            pa.concat_tables(tables)
            .group_by("values", use_threads=False)
            .aggregate([("counts", "sum")])
        )
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


class ColumnsSummary:
    """Stats of every column of a schema, accumulated from the pieces of a table as they come.

    `finish` needs the same rows as a Parquet file, for the histograms' second pass.
    """

    def __init__(self, schema: pa.Schema) -> None:
        self._columns = [_Column(column.name, column.type) for column in schema]

    def add(self, table: pa.Table) -> None:
        """Count one piece of the table (all columns, the same rows)."""
        for index, values in enumerate(table.columns):
            self.add_column(index, values)

    def add_column(self, index: int, values: pa.Array | pa.ChunkedArray) -> None:
        """Count one piece of one column (for reading a file a column at a time)."""
        self._columns[index].add(values)

    def finish(self, parquet: Path) -> tuple[list[ColumnProfile], list[ColumnStats]]:
        """Profiles and stats; the histograms read the numeric columns of `parquet` again."""
        histograms = _histograms(self._columns, parquet)
        profiles = [
            ColumnProfile(c.name, column_type(c.data_type), c.nulls, c.distinct_estimate())
            for c in self._columns
        ]
        stats = [_finish(column, histograms.get(column.name)) for column in self._columns]
        return profiles, stats


def describe_columns(path: Path) -> tuple[list[ColumnProfile], list[ColumnStats]]:
    """Profile and stats of every column of a Parquet file, one column and batch at a time."""
    parquet = pq.ParquetFile(path)
    summary = ColumnsSummary(parquet.schema_arrow)
    for index, name in enumerate(parquet.schema_arrow.names):
        batches = parquet.iter_batches(batch_size=BATCH_ROWS, columns=[name], use_threads=False)
        for batch in batches:
            summary.add_column(index, batch.column(0))
    return summary.finish(path)


def _finish(column: _Column, histogram: list[HistogramBin] | None) -> ColumnStats:
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
    sample = column.sample.values()
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
            "histogram": histogram,
        }
    )


def _histograms(columns: list[_Column], path: Path) -> dict[str, list[HistogramBin]]:
    """Exact counts in equal-width bins between each numeric column's min and max: a second
    pass over the numeric columns, after the first found min and max; a column per thread, as
    nothing else runs by then."""
    edges = {
        c.name: np.histogram_bin_edges([c.low, c.high], bins=HISTOGRAM_BINS)
        for c in columns
        if c.numeric and c.moments.n
    }
    workers = min(len(edges), _HISTOGRAM_THREADS)
    if not workers:
        return {}
    with ThreadPoolExecutor(workers, thread_name_prefix="histogram") as pool:
        counted = pool.map(lambda item: _histogram(path, *item), edges.items())
        return dict(zip(edges, counted, strict=True))


def _histogram(path: Path, name: str, edges: np.ndarray) -> list[HistogramBin]:
    counts = np.zeros(HISTOGRAM_BINS, dtype=np.int64)
    parquet = pq.ParquetFile(path)
    for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=[name], use_threads=False):
        numbers = pc.cast(batch.column(0).drop_null(), pa.float64()).to_numpy(zero_copy_only=False)
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


def _hashes(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
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
            binary = pc.cast(values, pa.large_binary())
            chunks = binary.chunks if isinstance(binary, pa.ChunkedArray) else [binary]
            return np.concatenate([np.empty(0, dtype=_U64), *map(_bytes_hashes, chunks)])
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    mask = (1 << 64) - 1
    return np.fromiter((hash(v) & mask for v in values.to_pylist()), dtype=_U64, count=len(values))


def _bytes_hashes(values: pa.Array) -> np.ndarray:
    """Polynomial hashes of the bytes, a slice of about `_HASH_SLICE_BYTES` at a time: the
    arithmetic takes several 8-byte temporaries per byte hashed, so a row group of long
    distinct texts hashed in one go would need gigabytes."""
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int64)[
        values.offset : values.offset + len(values) + 1
    ]
    data_buffer = values.buffers()[2]
    data = (
        np.frombuffer(data_buffer, dtype=np.uint8)
        if data_buffer is not None
        else np.empty(0, dtype=np.uint8)
    )
    lengths = np.diff(offsets)
    sums = np.empty(len(values), dtype=_U64)
    with np.errstate(over="ignore"):
        powers = np.cumprod(np.full(max(int(lengths.max(initial=0)), 1), _PRIME, dtype=_U64))
        bounds = _slice_bounds(offsets)
        for start, stop in itertools.pairwise(bounds):
            sums[start:stop] = _polynomial_sums(data, offsets[start : stop + 1], powers)
        return _splitmix64(sums ^ _splitmix64(lengths.astype(_U64)))


def _slice_bounds(offsets: np.ndarray) -> list[int]:
    """Value indexes cutting the values into runs of about `_HASH_SLICE_BYTES` bytes."""
    targets = np.arange(int(offsets[0]) + _HASH_SLICE_BYTES, int(offsets[-1]), _HASH_SLICE_BYTES)
    cuts = np.searchsorted(offsets[:-1], targets).tolist()
    return sorted({0, *cuts, len(offsets) - 1})


def _polynomial_sums(data: np.ndarray, offsets: np.ndarray, powers: np.ndarray) -> np.ndarray:
    """Sum of byte * prime ** (position in value + 1) per value, modulo 2 ** 64."""
    first, last = int(offsets[0]), int(offsets[-1])
    weighted = data[first:last].astype(_U64)
    positions = np.arange(weighted.size)
    positions -= np.repeat(offsets[:-1] - first, np.diff(offsets))
    weighted *= powers[positions]
    sums = np.concatenate(([_U64(0)], np.cumsum(weighted, dtype=_U64)))
    result: np.ndarray = sums[offsets[1:] - first] - sums[offsets[:-1] - first]
    return result


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
