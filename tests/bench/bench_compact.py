"""Compact REST for phones, issue 7: one realistic viewer's dashboard, measured four ways.

1. Bytes of the dashboard as plain JSON, compact and compact+fields, each in every content
   coding, through the BFF's own representation middleware; and brotli quality vs CPU time.
2. Over a 100 ms-RTT link (a loopback delay proxy, RTT/2 each way, in front of the real
   stack): one dashboard request vs the four list reads it replaces, one after another; and
   a batch of ten reads vs ten sequential requests.
3. Requests/s of the real dashboard route (the BFF and its four services as processes, a
   viewer seeded through the public API) over h2c with h2load, vs a bare ASGI hello-world on
   the kit's server (the ceiling) in the same run, alternating rounds.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import brotli
import httpx
import orjson
from fastapi import APIRouter, FastAPI

from bff.compact.representation import COMPACT_MEDIA_TYPE, RepresentationMiddleware
from bff.dashboard import Dashboard
from tests.bench import subprocess_server
from tests.bench.h2load import run_h2load
from tests.bench.process_cpu import cpu_seconds
from tests.bench.reporting import BenchResult
from tests.bench.viewer_stack import (
    DASHBOARD_PROCESSES,
    SEED_DATASETS,
    SEED_JOBS,
    running_stack,
    seed_viewer,
)
from tests.bff.compact.realistic_viewer import realistic_dashboard
from tests.support.servers import free_port

RTT_S = 0.100
BATCH_SIZE = 10
ROUNDS = 5
CODINGS = ("identity", "gzip", "br", "zstd")
BROTLI_QUALITIES = (4, 5, 6, 7, 9, 11)
FOUR_READS = (
    "/api/v1/datasets",
    "/api/v1/models",
    "/api/v1/training-jobs",
    "/api/v1/notifications",
)
H2LOAD_ROUNDS = 2
H2LOAD_CLIENTS, H2LOAD_STREAMS = 4, 2  # within what the dashboard serves without timeouts here
DASHBOARD_REQUESTS, HELLO_REQUESTS = 600, 10_000
PHONE = {"accept": COMPACT_MEDIA_TYPE, "accept-encoding": "br", "x-platform": "ios"}

HOME_SCREEN_FIELDS = ",".join(
    [
        "datasets.items.id",
        "datasets.items.name",
        "datasets.items.row_count",
        "datasets.items.updated_at",
        "models.items.id",
        "models.items.name",
        "models.items.task",
        "models.items.latest_version",
        "jobs.items.id",
        "jobs.items.status",
        "jobs.items.model_name",
        "jobs.items.metrics.accuracy",
        "jobs.items.created_at",
        "notifications.items.id",
        "notifications.items.title",
        "notifications.items.created_at",
        "unread_count",
    ]
)


def _dashboard_app(dashboard: Dashboard) -> FastAPI:
    app = FastAPI()
    router = APIRouter(prefix="/api/v1")

    @router.get("/dashboard", response_model=Dashboard)
    async def get_dashboard() -> Dashboard:
        return dashboard

    app.include_router(router)
    app.add_middleware(RepresentationMiddleware, prefix="/api/", min_compress_bytes=512)
    return app


async def _bytes_rows(dashboard: Dashboard) -> tuple[list[dict[str, Any]], bytes]:
    app = _dashboard_app(dashboard)
    variants = {
        "plain JSON": ({}, {}),
        "compact": ({"accept": COMPACT_MEDIA_TYPE}, {}),
        "compact + fields": ({"accept": COMPACT_MEDIA_TYPE}, {"fields": HOME_SCREEN_FIELDS}),
    }
    rows = []
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        for label, (headers, params) in variants.items():
            row: dict[str, Any] = {"representation": label}
            for coding in CODINGS:
                request_headers = {**headers, "accept-encoding": coding}
                async with client.stream(
                    "GET", "/api/v1/dashboard", headers=request_headers, params=params
                ) as response:
                    raw = b"".join([chunk async for chunk in response.aiter_raw()])
                assert response.status_code == 200, response.status_code
                row[coding] = len(raw)
            rows.append(row)
        compact = await client.get("/api/v1/dashboard", headers={"accept": COMPACT_MEDIA_TYPE})
    return rows, compact.content


def _brotli_sweep(body: bytes) -> dict[int, tuple[int, float]]:
    """Bytes and CPU ms per response of the compact body at each brotli quality."""
    sweep = {}
    for quality in BROTLI_QUALITIES:
        repeats = 3 if quality >= 10 else 20
        started = time.process_time()
        for _ in range(repeats):
            size = len(brotli.compress(body, mode=brotli.MODE_TEXT, quality=quality))
        sweep[quality] = (size, (time.process_time() - started) / repeats * 1000)
    return sweep


def _encode_ms(dashboard: Dashboard) -> dict[str, float]:
    """CPU ms per response to serialize the dashboard as JSON, and as JSON then compact."""
    from bff.compact.codec import encode
    from bff.compact.schema import CompactSchema

    schema = CompactSchema.from_routes(_dashboard_app(dashboard).routes, "/api/")
    spec = schema.spec_of(Dashboard)
    assert spec is not None

    def as_json() -> bytes:
        return orjson.dumps(dashboard.model_dump(mode="json"))

    def as_compact() -> bytes:
        return orjson.dumps(encode(dashboard.model_dump(mode="json"), spec, schema.resources))

    figures = {}
    for label, shape in (("json", as_json), ("compact", as_compact)):
        started = time.process_time()
        for _ in range(20):
            shape()
        figures[label] = (time.process_time() - started) / 20 * 1000
    return figures


@asynccontextmanager
async def _delay_proxy(target_port: int, one_way_s: float) -> AsyncIterator[int]:
    """A TCP proxy that delivers every chunk `one_way_s` late, in order, both ways."""

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                if not data:
                    writer.close()
                    return
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                writer.write(data)
                await writer.drain()

        task = asyncio.create_task(deliver())
        try:
            while data := await reader.read(65536):
                queue.put_nowait((time.monotonic() + one_way_s, data))
        finally:
            queue.put_nowait((0.0, b""))
            await task

    connections: dict[asyncio.Task[Any], list[asyncio.StreamWriter]] = {}

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        server_r, server_w = await asyncio.open_connection("127.0.0.1", target_port)
        connections[task] = [client_w, server_w]
        await asyncio.gather(
            pipe(client_r, server_w), pipe(server_r, client_w), return_exceptions=True
        )

    port = free_port()
    server = await asyncio.start_server(handle, "127.0.0.1", port)
    try:
        yield port
    finally:
        server.close()
        for writers in connections.values():  # connections still open end with the proxy
            for writer in writers:
                writer.close()
        if connections:
            await asyncio.wait(connections, timeout=5)


async def _over_slow_link(bff_port: int, auth: dict[str, str]) -> dict[str, float]:
    async with _delay_proxy(bff_port, RTT_S / 2) as proxy_port:
        base = f"http://127.0.0.1:{proxy_port}"
        async with httpx.AsyncClient(base_url=base, headers=PHONE, timeout=30) as http:
            return {**await _dashboard_vs_four(http, auth), **await _batch_vs_ten(http, auth)}


async def _median_ms(times: Callable[[], Awaitable[None]]) -> float:
    await times()  # the connection is open and warm before the first timed round
    samples = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        await times()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


async def _dashboard_vs_four(http: httpx.AsyncClient, auth: dict[str, str]) -> dict[str, float]:
    async def four_reads() -> None:
        for path in FOUR_READS:
            response = await http.get(path, headers=auth, params={"limit": 20})
            assert response.status_code == 200, response.text

    async def dashboard() -> None:
        response = await http.get("/api/v1/dashboard", headers=auth)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == COMPACT_MEDIA_TYPE

    return {"four_ms": await _median_ms(four_reads), "dashboard_ms": await _median_ms(dashboard)}


async def _batch_vs_ten(http: httpx.AsyncClient, auth: dict[str, str]) -> dict[str, float]:
    paths = ["/api/v1/me", "/api/v1/sessions", "/api/v1/app-config"]
    reads = [paths[i % len(paths)] for i in range(BATCH_SIZE)]
    batch_body = {"requests": [{"id": str(i), "path": p} for i, p in enumerate(reads)]}
    auth = {**auth, "accept": "application/json"}  # both sides as plain JSON, as before

    async def sequential() -> None:
        for path in reads:
            assert (await http.get(path, headers=auth)).status_code == 200

    async def batch() -> None:
        answer = await http.post("/api/v1/batch", json=batch_body, headers=auth)
        assert answer.status_code == 200, answer.text
        assert all(item["status"] == 200 for item in answer.json()["responses"])

    return {"sequential_ms": await _median_ms(sequential), "batch_ms": await _median_ms(batch)}


async def _hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The ceiling: the smallest ASGI answer the kit's server can serve."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b'{"hello":"world"}'})


def _start_hello() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    proc = subprocess_server.start("tests.bench.bench_compact", ["serve-hello", str(port)], url)
    return proc, url


def _h2load_rates(
    dashboard_url: str, auth: dict[str, str], pids: dict[str, int]
) -> dict[str, float]:
    """Median req/s of the dashboard (as a phone asks for it) and of hello-world, alternating;
    and the CPU ms each stack process spent per dashboard."""
    proc, hello_url = _start_hello()
    headers = {**PHONE, **auth}
    rates: dict[str, list[float]] = {"dashboard": [], "hello": []}
    cpu = dict.fromkeys(pids, 0.0)
    try:
        run_h2load(dashboard_url, 100, H2LOAD_CLIENTS, H2LOAD_STREAMS, headers)  # warm-up
        run_h2load(hello_url, 1_000, H2LOAD_CLIENTS, H2LOAD_STREAMS)
        for _ in range(H2LOAD_ROUNDS):
            before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            result = run_h2load(
                dashboard_url, DASHBOARD_REQUESTS, H2LOAD_CLIENTS, H2LOAD_STREAMS, headers
            )
            for name, pid in pids.items():
                cpu[name] += cpu_seconds(pid) - before[name]
            assert result.failed == 0, f"dashboard: {result.failed} failed"
            rates["dashboard"].append(result.requests_per_s)
            result = run_h2load(hello_url, HELLO_REQUESTS, H2LOAD_CLIENTS, H2LOAD_STREAMS)
            assert result.failed == 0, f"hello-world: {result.failed} failed"
            rates["hello"].append(result.requests_per_s)
    finally:
        proc.terminate()
        proc.wait(10)
    requests = H2LOAD_ROUNDS * DASHBOARD_REQUESTS
    return {
        **{name: statistics.median(values) for name, values in rates.items()},
        **{f"cpu_ms_{name}": spent * 1000 / requests for name, spent in cpu.items()},
    }


def _stack_figures() -> dict[str, float]:
    with running_stack("bench-compact-") as (stack, config):
        with httpx.Client(base_url=config.bff_url, timeout=30) as client:
            auth = seed_viewer(client)
            shown = client.get("/api/v1/dashboard", headers=auth).json()
        assert all(not shown[s]["error"] for s in ("datasets", "models", "jobs", "notifications"))
        figures = asyncio.run(_over_slow_link(config.ports["bff"], auth))
        pids = {name: stack.processes[name].process.pid for name in DASHBOARD_PROCESSES}
        figures.update(_h2load_rates(f"{config.bff_url}/api/v1/dashboard", auth, pids))
        log = stack.processes["bff"].log_path.read_text(errors="replace")
        figures["sections_failed"] = log.count("dashboard_section_failed")
        figures.update({f"shown_{s}": len(shown[s]["items"]) for s in ("datasets", "models",
                        "jobs", "notifications")})  # fmt: skip
        return figures


def run() -> BenchResult:
    dashboard = realistic_dashboard()
    rows, compact_body = asyncio.run(_bytes_rows(dashboard))
    sweep = _brotli_sweep(compact_body)
    encode_ms = _encode_ms(dashboard)
    stack = _stack_figures()
    plain, compact = rows[0], rows[1]
    summary: dict[str, Any] = {
        "compact+br vs plain JSON (smaller by; target >= 88%)": _saving(
            compact["br"], plain["identity"]
        ),
        "compact+br vs plain JSON+gzip (smaller by; target >= 35%)": _saving(
            compact["br"], plain["gzip"]
        ),
        "compact+br vs plain JSON+br (smaller by)": _saving(compact["br"], plain["br"]),
        "compact+fields+br vs plain JSON+gzip (smaller by)": _saving(rows[2]["br"], plain["gzip"]),
        "CPU ms per answer: JSON / JSON then compact": (
            f"{encode_ms['json']:.1f} / {encode_ms['compact']:.1f}"
        ),
        **{
            f"compact, brotli q{q}: bytes, CPU ms": f"{size:,} B, {ms:.1f} ms"
            for q, (size, ms) in sweep.items()
        },
        "dashboard at 100 ms RTT, ms (median)": round(stack["dashboard_ms"], 1),
        "four list reads one after another at 100 ms RTT, ms (median)": round(stack["four_ms"], 1),
        "dashboard speed-up vs four reads": round(stack["four_ms"] / stack["dashboard_ms"], 2),
        f"{BATCH_SIZE} sequential reads at 100 ms RTT, ms (median)": round(
            stack["sequential_ms"], 1
        ),
        f"batch of {BATCH_SIZE} reads at 100 ms RTT, ms (median)": round(stack["batch_ms"], 1),
        "batch speed-up (target >= 5x)": round(stack["sequential_ms"] / stack["batch_ms"], 2),
        "dashboard req/s over h2c (median)": round(stack["dashboard"], 1),
        "hello-world req/s over h2c (median, the ceiling)": round(stack["hello"], 1),
        "dashboard / hello-world throughput": f"{stack['dashboard'] / stack['hello'] * 100:.1f}%",
        "dashboard sections failed under load": int(stack["sections_failed"]),
        "CPU ms per dashboard, by process": ", ".join(
            f"{name} {stack[f'cpu_ms_{name}']:.1f}" for name in DASHBOARD_PROCESSES
        ),
    }
    shown = ", ".join(
        f"{int(stack[f'shown_{s}'])} {s}" for s in ("datasets", "models", "jobs", "notifications")
    )
    return BenchResult(
        name="compact",
        title="Dashboard: bytes by representation and coding; latency at 100 ms RTT; h2c req/s",
        columns=["representation", *CODINGS],
        rows=rows,
        summary=summary,
        notes=[
            "Bytes: one viewer (tests/bff/compact/realistic_viewer.py): 50 datasets of 8 kinds "
            "with their own columns, 12 models, 200 jobs (real hyperparameters, metrics and "
            "trainer error messages), 70 unread of 100 notifications, all in one answer; "
            "bytes on the wire (body, after coding). Levels: brotli 5, zstd 3, gzip 6 (the BFF "
            "defaults); CPU ms are per answer on this machine.",
            "Latency: the real stack (BFF + 4 services + fake push, one process each) behind a "
            f"loopback delay proxy ({RTT_S * 1000:.0f} ms RTT), HTTP/1.1 keep-alive, a phone's "
            f"headers (compact, br); medians of {ROUNDS} rounds after a warm-up. The four "
            "reads are datasets, models, training-jobs and notifications (limit 20); the "
            "dashboard also carries the unread count. Batch: /me, /sessions, /app-config x10.",
            f"Throughput: h2load -c{H2LOAD_CLIENTS} -m{H2LOAD_STREAMS} over h2c, "
            f"{H2LOAD_ROUNDS} alternating rounds ({DASHBOARD_REQUESTS} dashboard, "
            f"{HELLO_REQUESTS} hello-world requests), medians. The viewer was seeded through "
            f"the public API ({SEED_DATASETS} CSV uploads, {SEED_JOBS} trained jobs); each "
            f"dashboard showed {shown}. Everything shares this machine's CPUs "
            f"({_cpus()}), with other work running.",
        ],
    )


def _cpus() -> int:
    return len(os.sched_getaffinity(0))


def _saving(size: object, baseline: object) -> str:
    assert isinstance(size, int) and isinstance(baseline, int)
    return f"{(1 - size / baseline) * 100:.1f}%"


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "serve-hello":
        subprocess_server.serve_forever(_hello, int(sys.argv[2]))
