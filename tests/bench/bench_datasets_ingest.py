"""Ingest of a generated ~190 MB CSV through the datasets service's full upload path (open,
5 MiB chunks with checksums, complete: read the chunks in order, verify, convert to Parquet,
profile, stats), against `pyarrow.csv.read_csv` on the same file in the same run; plus the
service's peak RSS growth, read from /proc (VmHWM after the ingest minus VmRSS before it)."""

from __future__ import annotations

import hashlib
import os
import secrets
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

from tests.bench import subprocess_server
from tests.bench.reporting import BenchResult
from tests.support.servers import free_port

TARGET_BYTES = 190 * 1000 * 1000  # under the default 200 MB file limit
MB = 1_000_000
_USER = "bench-user"


def _generate_csv(path: Path, target_bytes: int) -> int:
    """Write a mixed-type CSV of about `target_bytes` (ints, floats, categories, bools, text)."""
    rng = np.random.default_rng(7)
    rows_per_batch = 200_000
    start = 0
    with pa_csv.CSVWriter(path, _schema()) as writer:
        while path.stat().st_size < target_bytes:
            ids = np.arange(start, start + rows_per_batch)
            batch = pa.record_batch(
                [
                    pa.array(ids),
                    pa.array(rng.normal(50, 12, rows_per_batch).round(3)),
                    pa.array(rng.exponential(1000, rows_per_batch).round(2)),
                    pa.array(rng.choice(["basic", "plus", "pro", "team"], rows_per_batch)),
                    pa.array(rng.random(rows_per_batch) < 0.3),
                    pa.array([f"customer-{i % 50_000}" for i in ids]),
                ],
                schema=_schema(),
            )
            writer.write_batch(batch)
            start += rows_per_batch
    return start


def _schema() -> pa.Schema:
    return pa.schema(
        [
            ("id", pa.int64()),
            ("score", pa.float64()),
            ("spend", pa.float64()),
            ("plan", pa.string()),
            ("churned", pa.bool_()),
            ("customer", pa.string()),
        ]
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(4 * 1024 * 1024):
            digest.update(block)
    return digest.hexdigest()


def _rss_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for pid {pid}")


def _start_service(data_dir: Path, secret: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "TERN_DATASETS_ENVIRONMENT": "test",
        "TERN_DATASETS_PORT": str(port),
        "TERN_DATASETS_DATA_DIR": str(data_dir),
        "TERN_DATASETS_SERVICE_TOKEN_SECRET": secret,
        "TERN_DATASETS_LOG_LEVEL": "WARNING",
    }
    url = f"http://127.0.0.1:{port}"
    return subprocess_server.start("services.datasets", [], f"{url}/health", env, 300), url


def _ingest(url: str, secret: str, path: Path) -> tuple[float, float, dict[str, object]]:
    """Upload `path` chunk by chunk and complete it; (upload seconds, complete seconds, version)."""
    from services.kit.service_auth import ServiceTokenIssuer

    tokens = ServiceTokenIssuer(secret, "bff")

    def auth() -> dict[str, str]:
        return {"authorization": f"Bearer {tokens.mint('datasets', _USER)}"}

    size = path.stat().st_size
    with httpx.Client(base_url=url, timeout=600) as client:
        started = time.perf_counter()
        created = client.post(
            "/internal/v1/uploads",
            json={"filename": "bench.csv", "size": size, "sha256": _sha256(path)},
            headers=auth(),
        )
        created.raise_for_status()
        session = created.json()
        with path.open("rb") as handle:
            for n in range(session["chunk_count"]):
                chunk = handle.read(session["chunk_size"])
                sent = client.put(
                    f"/internal/v1/uploads/{session['upload_id']}/chunks/{n}",
                    content=chunk,
                    headers={**auth(), "X-Chunk-SHA256": hashlib.sha256(chunk).hexdigest()},
                )
                sent.raise_for_status()
        uploaded = time.perf_counter()
        completed = client.post(
            f"/internal/v1/uploads/{session['upload_id']}/complete", headers=auth()
        )
        completed.raise_for_status()
        done = time.perf_counter()
    version: dict[str, object] = completed.json()
    return uploaded - started, done - uploaded, version


def run() -> BenchResult:
    with tempfile.TemporaryDirectory(prefix="tern-bench-ingest-") as tmp:
        root = Path(tmp)
        csv_path = root / "bench.csv"
        rows = _generate_csv(csv_path, TARGET_BYTES)
        size = csv_path.stat().st_size

        began = time.perf_counter()
        table = pa_csv.read_csv(csv_path)
        pyarrow_s = time.perf_counter() - began
        assert table.num_rows == rows
        del table

        secret = secrets.token_urlsafe(32)
        proc, url = _start_service(root / "service", secret)
        try:
            rss_before = _rss_kib(proc.pid, "VmRSS")
            upload_s, complete_s, version = _ingest(url, secret, csv_path)
            peak = _rss_kib(proc.pid, "VmHWM")
        finally:
            proc.terminate()
            proc.wait(10)
        csv_path.unlink()
    assert version["row_count"] == rows
    service_s = upload_s + complete_s
    service_mbps = size / MB / service_s
    pyarrow_mbps = size / MB / pyarrow_s
    growth_mb = (peak - rss_before) * 1024 / MB
    result_rows = [
        {
            "path": "pyarrow.csv.read_csv (in memory, threaded)",
            "seconds": pyarrow_s,
            "MB/s": pyarrow_mbps,
        },
        {
            "path": "service: chunks sent (open + PUTs)",
            "seconds": upload_s,
            "MB/s": size / MB / upload_s,
        },
        {
            "path": "service: complete (chunks in order, verify, Parquet, stats)",
            "seconds": complete_s,
            "MB/s": size / MB / complete_s,
        },
        {"path": "service: full upload path", "seconds": service_s, "MB/s": service_mbps},
    ]
    return BenchResult(
        name="datasets_ingest",
        title=f"Datasets ingest of a {size / MB:.0f} MB CSV ({rows:,} rows, 6 columns)",
        columns=["path", "seconds", "MB/s"],
        rows=result_rows,
        summary={
            "service / pyarrow.read_csv throughput": round(service_mbps / pyarrow_mbps, 3),
            "service peak RSS growth (MB)": round(growth_mb, 1),
            "service RSS before (MB)": round(rss_before * 1024 / MB, 1),
            "target RSS growth (MB)": "< 300",
        },
        notes=[
            "One run; the service is a real process (Granian) on loopback, SQLite, 5 MiB "
            "chunks sent one after another over HTTP/1.1 by the bench process.",
            "The service streams: chunks to disk; on complete it reads them in order as one "
            "stream, parses ahead on one thread, writes Parquet row groups on another and "
            "computes the stats from the same row groups, the checksum alongside; "
            "pyarrow.read_csv holds the whole table in memory.",
        ],
    )
