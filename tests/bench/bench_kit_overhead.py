"""What the service kit costs per request: the same tiny endpoint on a bare FastAPI app and on
a kit app (request id, trace context, access log, metrics, body limit, error handlers), both on
the kit's default server (Granian) and uvloop over h2c, loaded by h2load in the same run,
alternating, median of rounds."""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from fastapi import FastAPI

from tests.bench import subprocess_server
from tests.bench.h2load import run_h2load
from tests.bench.reporting import BenchResult
from tests.support.servers import free_port

ROUNDS = 3
REQUESTS = 20_000


def _bare_app() -> FastAPI:
    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, bool]:
        return {"ok": True}

    return app


def _kit_app(data_dir: Path) -> FastAPI:
    from services.datasets.settings import DatasetsSettings
    from services.kit.app_factory import create_service_app

    settings = DatasetsSettings(data_dir=data_dir, log_level="WARNING")
    app = create_service_app(settings, title="bench", migrations_dir=None)

    @app.get("/ping")
    async def ping() -> dict[str, bool]:
        return {"ok": True}

    return app


def _start(kind: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}/ping"
    args = ["serve", kind, str(port)]
    return subprocess_server.start("tests.bench.bench_kit_overhead", args, url), url


def run() -> BenchResult:
    servers = {kind: _start(kind) for kind in ("bare", "kit")}
    figures: dict[str, list[tuple[float, float]]] = {kind: [] for kind in servers}
    try:
        for _kind, (_proc, url) in servers.items():  # warm-up
            run_h2load(url, 2_000, 8, 10)
        for _ in range(ROUNDS):
            for kind, (_proc, url) in servers.items():
                result = run_h2load(url, REQUESTS, 16, 10)
                assert result.failed == 0, f"{kind}: {result.failed} failed"
                figures[kind].append((result.requests_per_s, result.mean_ms))
    finally:
        for proc, _url in servers.values():
            proc.terminate()
            proc.wait(10)
    rows = [
        {
            "app": kind,
            "req/s (median)": statistics.median(r for r, _ in values),
            "mean latency ms (median)": statistics.median(m for _, m in values),
        }
        for kind, values in figures.items()
    ]
    bare, kit = rows[0]["req/s (median)"], rows[1]["req/s (median)"]
    return BenchResult(
        name="kit_overhead",
        title="Service kit overhead per request (h2c, h2load -c16 -m10)",
        columns=["app", "req/s (median)", "mean latency ms (median)"],
        rows=rows,
        summary={"kit / bare throughput": round(kit / bare, 3)},
        notes=[
            f"{ROUNDS} alternating rounds of {REQUESTS} requests; one process each on the "
            "kit's default server (Granian) and uvloop."
        ],
    )


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "serve":
        kind, port = sys.argv[2], int(sys.argv[3])
        app = _bare_app() if kind == "bare" else _kit_app(Path(tempfile.mkdtemp()))
        subprocess_server.serve_forever(app, port)
