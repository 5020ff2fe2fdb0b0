"""Column stats in bounded memory: exact where promised, close where estimated."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from services.datasets.column_stats import BATCH_ROWS, SKETCH_SIZE, describe_columns


def _write(path: Path, table: pa.Table) -> Path:
    pq.write_table(table, path, row_group_size=50_000)
    return path


def test_stats_over_many_batches(tmp_path: Path) -> None:
    rows = 3 * BATCH_ROWS
    rng = np.random.default_rng(1)
    values = rng.normal(10, 2, rows)
    table = pa.table(
        {
            "id": pa.array(np.arange(rows)),
            "value": pa.array(values),
            "kind": pa.array(np.where(np.arange(rows) % 4 == 0, "rare", "common")),
            "text": pa.array([f"t{i}" if i % 10 else None for i in range(rows)]),
        }
    )

    profiles, stats = describe_columns(_write(tmp_path / "t.parquet", table))

    by_name = {s.name: s for s in stats}
    distinct = {p.name: p.distinct_estimate for p in profiles}
    assert abs(distinct["id"] - rows) / rows < 0.05  # estimated above SKETCH_SIZE
    assert distinct["kind"] == 2  # exact below it
    assert abs(distinct["text"] - rows * 0.9) / (rows * 0.9) < 0.05
    value = by_name["value"]
    assert value.count == rows and value.nulls == 0
    assert value.mean is not None and abs(value.mean - values.mean()) < 1e-9
    assert value.std is not None and abs(value.std - values.std(ddof=1)) < 1e-9
    assert (value.min, value.max) == (values.min(), values.max())
    assert value.quantiles is not None
    assert abs(value.quantiles["p50"] - float(np.median(values))) < 0.05
    assert value.histogram is not None and sum(b.count for b in value.histogram) == rows
    kind = by_name["kind"]
    assert kind.top_values is not None
    assert [(t.value, t.count) for t in kind.top_values] == [
        ("common", rows - rows // 4),
        ("rare", rows // 4),
    ]
    assert by_name["text"].nulls == -(-rows // 10)
    assert SKETCH_SIZE < rows


def test_all_null_and_non_finite_columns(tmp_path: Path) -> None:
    table = pa.table(
        {
            "empty": pa.array([None, None], type=pa.float64()),
            "inf": pa.array([float("inf"), 1.0]),
        }
    )

    _, stats = describe_columns(_write(tmp_path / "t.parquet", table))

    empty, inf = stats
    assert (empty.count, empty.nulls, empty.mean, empty.histogram) == (0, 2, None, None)
    assert (inf.count, inf.min, inf.max) == (2, 1.0, 1.0)
