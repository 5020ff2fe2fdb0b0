"""Files a datasets test uploads and reads back: a small CSV, the Parquet the service wrote."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq


def sample_csv(rows: int = 20) -> bytes:
    """A CSV of `rows` people: an int id, a name, a float score and a boolean."""
    lines = ["id,name,score,active"]
    lines += [f"{i},name-{i},{i * 1.5},{'true' if i % 2 else 'false'}" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


def read_parquet(content: bytes) -> pa.Table:
    return pq.read_table(io.BytesIO(content))
