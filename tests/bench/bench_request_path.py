"""The request path at Python's real speed: the dashboard and the viewer query, against a
fixed yardstick, with server CPU per request for every process.

One run, rounds alternating between five loads (h2load over h2c, the same connections and
streams for each):

(a) a bare FastAPI hello-world on Hypercorn: the yardstick, which does not move when our stack
    gets faster;
(b) the realistic viewer's dashboard, uncached: a second BFF over the same services with
    `TERN_BFF_REUSE_CURRENT_PAGES=false`, so every section is fetched from its service;
(c) the same dashboard, unchanged since the last read, from the BFF as it runs by default;
(d) the same with the ETag of the last answer in If-None-Match: a 304;
(e) the GraphQL viewer query of a home screen, uncached like (b).

CPU per request is each process's user+system time over its load, divided by the requests.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import orjson
from fastapi import FastAPI

from bff.compact.representation import COMPACT_MEDIA_TYPE
from infra.local.stack import Stack, StackConfig, service_env
from tests.bench import subprocess_server
from tests.bench.h2load import run_h2load
from tests.bench.process_cpu import cpu_seconds
from tests.bench.reporting import BenchResult
from tests.bench.viewer_stack import DASHBOARD_PROCESSES, running_stack, seed_viewer
from tests.support.servers import free_port

ROUNDS = 5
CLIENTS, STREAMS = 8, 1
REQUESTS = {"a": 12_000, "b": 1_500, "c": 8_000, "d": 8_000, "e": 1_500}
LOADS = {
    "a": "hello-world, bare FastAPI on Hypercorn (yardstick)",
    "b": "dashboard, uncached",
    "c": "dashboard, unchanged (from memory)",
    "d": "dashboard, If-None-Match (304)",
    "e": "GraphQL viewer query, uncached",
}
PHONE = {"accept": COMPACT_MEDIA_TYPE, "accept-encoding": "br", "x-platform": "ios"}
VIEWER_QUERY = """{ viewer { email
  datasets(first: 20) { items { id name rowCount updatedAt } nextCursor }
  models(first: 20) { items { id name task latestVersion } }
  trainingJobs(first: 20) { items { id status modelName metrics createdAt } }
  notifications(first: 20, unread: true) { items { id title createdAt } }
} }"""
TARGETS = {"b": 0.25, "c": 0.6, "d": 1.0}
_CPU_COLUMNS = ("stack CPU ms/req", "server CPU ms/req")


def _hello() -> FastAPI:
    app = FastAPI()

    @app.get("/")
    async def hello() -> dict[str, str]:
        return {"hello": "world"}

    return app


@contextmanager
def _uncached_bff(stack: Stack, config: StackConfig) -> Iterator[tuple[str, int]]:
    """A second BFF over the same services and database, that keeps no pages."""
    port = free_port()
    env = {
        **os.environ,
        **service_env(config, "bff"),
        "TERN_BFF_PORT": str(port),
        "TERN_BFF_REUSE_CURRENT_PAGES": "false",
    }
    log = (config.data_dir / "logs" / "bff-uncached.log").open("ab")
    process = subprocess.Popen([sys.executable, "-m", "bff"], env=env, stdout=log, stderr=log)
    url = f"http://{config.host}:{port}"
    try:
        with httpx.Client(timeout=1) as client:
            for _ in range(600):
                try:
                    if client.get(f"{url}/ready").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
            else:
                raise RuntimeError("the uncached BFF did not get ready")
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(15)
        log.close()


def _measure(
    targets: dict[str, tuple[str, dict[str, str], str | None]], pids: dict[str, dict[str, int]]
) -> dict[str, list[dict[str, float]]]:
    figures: dict[str, list[dict[str, float]]] = {load: [] for load in targets}
    for url, headers, body in targets.values():  # warm-up
        run_h2load(url, 300, CLIENTS, STREAMS, headers, body)
    for _ in range(ROUNDS):
        for load, (url, headers, body) in targets.items():
            before = {name: cpu_seconds(pid) for name, pid in pids[load].items()}
            result = run_h2load(
                url, REQUESTS[load], CLIENTS, STREAMS, headers, body, per_request=True
            )
            spent = {name: cpu_seconds(pid) - before[name] for name, pid in pids[load].items()}
            wanted = 304 if load == "d" else 200
            wrong = sum(status != wanted for status in result.statuses)
            assert wrong == 0, f"{LOADS[load]}: {wrong} answers were not {wanted}"
            figures[load].append(
                {
                    "req/s": result.requests_per_s,
                    "p50 ms": result.percentile_ms(0.50),
                    "p99 ms": result.percentile_ms(0.99),
                    **{
                        f"{name} CPU ms/req": seconds * 1000 / REQUESTS[load]
                        for name, seconds in spent.items()
                    },
                }
            )
    return figures


def run() -> BenchResult:
    hello_port = free_port()
    hello_url = f"http://127.0.0.1:{hello_port}/"
    hello = subprocess_server.start(
        "tests.bench.bench_request_path", ["serve-hello", str(hello_port)], hello_url
    )
    try:
        with running_stack("bench-request-path-") as (stack, config):
            with httpx.Client(base_url=config.bff_url, timeout=60) as client:
                auth = seed_viewer(client)
                first = client.get("/api/v1/dashboard", headers={**PHONE, **auth})
            assert first.status_code == 200
            etag = first.headers["etag"]
            services = {name: stack.processes[name].process.pid for name in DASHBOARD_PROCESSES}
            with _uncached_bff(stack, config) as (uncached_url, uncached_pid), \
                    tempfile.NamedTemporaryFile(suffix=".json") as query:  # fmt: skip
                query.write(orjson.dumps({"query": VIEWER_QUERY}))
                query.flush()
                dashboard = f"{config.bff_url}/api/v1/dashboard"
                graphql = {**auth, "content-type": "application/json"}
                targets = {
                    "a": (hello_url, {}, None),
                    "b": (f"{uncached_url}/api/v1/dashboard", {**PHONE, **auth}, None),
                    "c": (dashboard, {**PHONE, **auth}, None),
                    "d": (dashboard, {**PHONE, **auth, "if-none-match": etag}, None),
                    "e": (f"{uncached_url}/graphql", graphql, query.name),
                }
                uncached = {**services, "bff": uncached_pid}
                pids = {
                    "a": {"hello": hello.pid},
                    "b": uncached,
                    "c": services,
                    "d": services,
                    "e": uncached,
                }
                figures = _measure(targets, pids)
    finally:
        hello.terminate()
        hello.wait(10)
    return _result(figures)


def _result(figures: dict[str, list[dict[str, float]]]) -> BenchResult:
    medians = {
        load: {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
        for load, rounds in figures.items()
    }
    rate = {load: values["req/s"] for load, values in medians.items()}
    rows: list[dict[str, Any]] = []
    for load, values in medians.items():
        row: dict[str, Any] = {"load": f"({load}) {LOADS[load]}"}
        row.update({k: round(v, 2) for k, v in values.items() if not k.endswith("CPU ms/req")})
        row["vs (a)"] = round(rate[load] / rate["a"], 3)
        cpu = {k.removesuffix(" CPU ms/req"): v for k, v in values.items() if "CPU" in k}
        row["server CPU ms/req"] = ", ".join(f"{k} {v:.2f}" for k, v in cpu.items())
        row["stack CPU ms/req"] = round(sum(cpu.values()), 2)
        rows.append(row)
    uncached = medians["b"]
    summary: dict[str, Any] = {
        f"({load}) / (a), target >= {target}": round(rate[load] / rate["a"], 3)
        for load, target in TARGETS.items()
    }
    summary["(e) / (b), target >= 0.8"] = round(rate["e"] / rate["b"], 3)
    summary["BFF CPU per uncached dashboard, ms (target <= 3)"] = round(
        uncached["bff CPU ms/req"], 2
    )
    summary["stack CPU per uncached dashboard, ms (target <= 10)"] = round(
        sum(v for k, v in uncached.items() if "CPU" in k), 2
    )
    return BenchResult(
        name="request_path",
        title="Request path: dashboard and viewer query vs a hello-world yardstick (h2c)",
        columns=[
            "load",
            "req/s",
            "p50 ms",
            "p99 ms",
            "vs (a)",
            "stack CPU ms/req",
            "server CPU ms/req",
        ],
        rows=rows,
        summary=summary,
        notes=[
            f"h2load -c{CLIENTS} -m{STREAMS} over h2c; {ROUNDS} rounds alternating the five "
            f"loads ({', '.join(f'({k}) {n}' for k, n in REQUESTS.items())} requests), "
            "medians of rounds. The viewer (tests/bench/viewer_stack.py) has 20 datasets, 20 "
            "trained jobs over 4 models and their notifications, seeded through the public "
            "API; the dashboard asks as a phone does (compact, br). (b) and (e) go to a second "
            "BFF process over the same services that keeps no pages. Every process runs on "
            "its default server (Granian) on uvloop, embedded defaults (SQLite); everything "
            "shares this machine's 2 CPUs with the load generator.",
        ],
    )


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "serve-hello":
        subprocess_server.serve_forever(_hello(), int(sys.argv[2]), "hypercorn")
