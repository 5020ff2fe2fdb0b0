"""Run h2load (Debian: nghttp2-client) and read its figures."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class H2Load:
    requests_per_s: float
    succeeded: int
    failed: int
    mean_ms: float
    max_ms: float
    # Per request, from h2load's log file: milliseconds to the last byte, sorted; and statuses.
    latencies_ms: list[float] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)

    def percentile_ms(self, q: float) -> float:
        """The latency below which a fraction `q` of the requests finished."""
        values = self.latencies_ms
        return round(values[min(len(values) - 1, int(q * len(values)))], 2) if values else 0.0


def h2load_path() -> str:
    path = shutil.which("h2load")
    if path is None:
        raise SystemExit("h2load not found: apt-get install nghttp2-client (make bench does)")
    return path


def run_h2load(
    url: str,
    requests: int,
    clients: int,
    streams: int,
    headers: dict[str, str] | None = None,
    data_file: str | None = None,
    h1: bool = False,
    per_request: bool = False,
) -> H2Load:
    """h2load over h2c (prior knowledge) with `clients` connections x `streams` streams each.

    With `data_file`, every request is a POST of that file's bytes; with `h1`, HTTP/1.1; with
    `per_request`, each request's latency and status are read from h2load's log file.
    """
    args = [h2load_path(), "-n", str(requests), "-c", str(clients), "-m", str(streams), url]
    if h1:
        args.append("--h1")
    if data_file:
        args += ["-d", data_file]
    for key, value in (headers or {}).items():
        args += ["-H", f"{key}: {value}"]
    with tempfile.NamedTemporaryFile(suffix=".tsv") as log:
        if per_request:
            args += ["--log-file", log.name]
        out = subprocess.run(args, capture_output=True, text=True, check=True, timeout=300).stdout
        # One line per request: start (us since epoch), status, microseconds to the last byte.
        rows = [line.split("\t") for line in Path(log.name).read_text().splitlines() if line]
    rps = float(re.search(r"finished in [\d.]+m?s, ([\d.]+) req/s", out).group(1))  # type: ignore[union-attr]
    counts = re.search(
        r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed", out
    )
    latency = re.search(
        r"time for request:\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)", out
    )
    assert counts and latency, out

    def ms(value: str, unit: str) -> float:
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    return H2Load(
        requests_per_s=rps,
        succeeded=int(counts.group(1)),
        failed=int(counts.group(2)),
        mean_ms=ms(latency.group(5), latency.group(6)),
        max_ms=ms(latency.group(3), latency.group(4)),
        latencies_ms=sorted(int(row[2]) / 1000 for row in rows),
        statuses=[int(row[1]) for row in rows],
    )
