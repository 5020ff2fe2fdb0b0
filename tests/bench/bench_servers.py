"""Which ASGI server runs every process: Granian vs Hypercorn, same apps, same run.

Two apps on each server, each in a process of its own (uvloop): a bare FastAPI hello-world,
and the same route on a kit app (request id, trace context, access log, metrics, body limit,
error handlers: what every Tern process runs). Loaded by h2load over h2c and over HTTP/1.1,
rounds alternating between servers; req/s and the server's CPU per request (user+system of
its process) are medians over rounds.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from itertools import product
from pathlib import Path

from fastapi import FastAPI

from tests.bench import subprocess_server
from tests.bench.h2load import run_h2load
from tests.bench.process_cpu import cpu_seconds
from tests.bench.reporting import BenchResult
from tests.support.servers import free_port

ROUNDS = 3
REQUESTS = 20_000
CLIENTS, STREAMS = 8, 1
SERVERS = ("granian", "hypercorn")
APPS = ("bare", "kit")
PROTOCOLS = ("h2c", "http/1.1")


def _app(kind: str) -> FastAPI:
    if kind == "bare":
        app = FastAPI()
    else:
        from services.datasets.settings import DatasetsSettings
        from services.kit.app_factory import create_service_app

        settings = DatasetsSettings(data_dir=Path(tempfile.mkdtemp()), log_level="WARNING")
        app = create_service_app(settings, title="bench", migrations_dir=None)

    @app.get("/ping")
    async def ping() -> dict[str, bool]:
        return {"ok": True}

    return app


def run() -> BenchResult:
    procs = {}
    for server, app in product(SERVERS, APPS):
        port = free_port()
        url = f"http://127.0.0.1:{port}/ping"
        args = ["serve", server, app, str(port)]
        procs[server, app] = (subprocess_server.start("tests.bench.bench_servers", args, url), url)
    figures: dict[tuple[str, str, str], list[tuple[float, float]]] = {}
    try:
        for (_server, _app_kind), (_proc, url) in procs.items():  # warm-up
            run_h2load(url, 2_000, CLIENTS, STREAMS)
        for _ in range(ROUNDS):
            for protocol, app_kind, server in product(PROTOCOLS, APPS, SERVERS):
                proc, url = procs[server, app_kind]
                before = cpu_seconds(proc.pid)
                result = run_h2load(url, REQUESTS, CLIENTS, STREAMS, h1=protocol == "http/1.1")
                cpu_ms = (cpu_seconds(proc.pid) - before) * 1000 / REQUESTS
                key = (protocol, app_kind, server)
                figures.setdefault(key, []).append((result.requests_per_s, cpu_ms))
    finally:
        for proc, _url in procs.values():
            proc.terminate()
            proc.wait(10)
    rows = [
        {
            "protocol": protocol,
            "app": app_kind,
            "server": server,
            "req/s (median)": statistics.median(r for r, _ in values),
            "server CPU ms/req (median)": round(statistics.median(c for _, c in values), 3),
        }
        for (protocol, app_kind, server), values in figures.items()
    ]

    def rate(protocol: str, app_kind: str, server: str) -> float:
        return statistics.median(r for r, _ in figures[protocol, app_kind, server])

    summary = {
        f"{protocol}, {app_kind} app: granian / hypercorn req/s": round(
            rate(protocol, app_kind, "granian") / rate(protocol, app_kind, "hypercorn"), 2
        )
        for protocol, app_kind in product(PROTOCOLS, APPS)
    }
    return BenchResult(
        name="servers",
        title="ASGI server per process: Granian vs Hypercorn (h2load, same apps, same run)",
        columns=["protocol", "app", "server", "req/s (median)", "server CPU ms/req (median)"],
        rows=rows,
        summary=summary,
        notes=[
            f"{ROUNDS} alternating rounds of {REQUESTS} requests, h2load -c{CLIENTS} "
            f"-m{STREAMS} (h2c prior knowledge, or --h1); one process per server and app, "
            "uvloop, Granian embedded in the process (services/kit/server.py). h2load counts "
            "Hypercorn's HTTP/1.1 replies as failed (no reason phrase) but times them; req/s "
            "counts every reply. Everything shares this machine's 2 CPUs."
        ],
    )


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "serve":
        server, app_kind, port = sys.argv[2], sys.argv[3], int(sys.argv[4])
        subprocess_server.serve_forever(_app(app_kind), port, server)
