"""Which HTTP client carries calls between services: client CPU per keep-alive GET.

The same small JSON GET to one server process (Granian, a bare ASGI answer, so the server is
not what is measured), 16 calls in flight, from: httpx's own transport (HTTP/1.1), httpx over
the httpx-aiohttp transport, aiohttp, and the kit's `ServiceClient` (aiohttp plus service
token, request id, traceparent, breaker and retry bookkeeping). Client CPU is this process's
user+system time per answered call; rounds alternate and medians are reported.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import httpx
import orjson

from tests.bench import subprocess_server
from tests.bench.reporting import BenchResult
from tests.support.servers import free_port

ROUNDS = 5
CALLS = 4_000
IN_FLIGHT = 16
BODY = orjson.dumps({"items": [{"id": i, "name": f"dataset {i}"} for i in range(6)]})
HTTPX = "httpx (own transport)"
BUDGET_US = 150  # DESIGN.md: well under 150 us of client CPU per internal call

Call = Callable[[], Awaitable[bytes]]


async def _hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": BODY})


async def _clients(url: str) -> dict[str, tuple[Call, Callable[[], Awaitable[None]]]]:
    """name -> (one call, close)."""
    from httpx_aiohttp import AiohttpTransport

    from services.kit.http_client import ServiceClient
    from services.kit.service_auth import ServiceTokenIssuer

    plain = httpx.AsyncClient(limits=httpx.Limits(max_keepalive_connections=IN_FLIGHT))
    over_aiohttp = httpx.AsyncClient(transport=AiohttpTransport())
    session = aiohttp.ClientSession()
    kit = ServiceClient("bench", url, ServiceTokenIssuer("b" * 32, "bench"))

    async def httpx_call() -> bytes:
        return (await plain.get(url)).content

    async def httpx_aiohttp_call() -> bytes:
        return (await over_aiohttp.get(url)).content

    async def aiohttp_call() -> bytes:
        async with session.get(url) as response:
            return await response.read()

    async def kit_call() -> bytes:
        return (await kit.request("GET", "/", user_id="user-1")).content

    return {
        HTTPX: (httpx_call, plain.aclose),
        "httpx over httpx-aiohttp": (httpx_aiohttp_call, over_aiohttp.aclose),
        "aiohttp": (aiohttp_call, session.close),
        "kit ServiceClient (aiohttp)": (kit_call, kit.aclose),
    }


async def _cpu_us_per_call(call: Call) -> tuple[float, float]:
    """(client CPU us per call, calls/s) for CALLS calls, IN_FLIGHT at a time."""
    remaining = CALLS

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            assert await call() == BODY

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return cpu / CALLS * 1e6, CALLS / wall


async def _measure(url: str) -> dict[str, list[tuple[float, float]]]:
    clients = await _clients(url)
    figures: dict[str, list[tuple[float, float]]] = {name: [] for name in clients}
    try:
        for call, _close in clients.values():  # warm-up: connections open, code paths hot
            for _ in range(200):
                await call()
        for _ in range(ROUNDS):
            for name, (call, _close) in clients.items():
                figures[name].append(await _cpu_us_per_call(call))
    finally:
        for _call, close in clients.values():
            await close()
    return figures


def run() -> BenchResult:
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    proc = subprocess_server.start("tests.bench.bench_http_client", ["serve", str(port)], url)
    try:
        figures = asyncio.run(_measure(url))
    finally:
        proc.terminate()
        proc.wait(10)
    rows = [
        {
            "client": name,
            "client CPU us/call (median)": statistics.median(us for us, _ in values),
            "calls/s (median)": statistics.median(rate for _, rate in values),
        }
        for name, values in figures.items()
    ]
    by_name = {row["client"]: row["client CPU us/call (median)"] for row in rows}
    kit = by_name["kit ServiceClient (aiohttp)"]
    return BenchResult(
        name="http_client",
        title="Internal HTTP client: client CPU per keep-alive GET (16 in flight)",
        columns=["client", "client CPU us/call (median)", "calls/s (median)"],
        rows=rows,
        summary={
            "httpx / kit ServiceClient CPU per call": round(by_name[HTTPX] / kit, 1),
            f"kit ServiceClient within the {BUDGET_US} us budget": "yes"
            if kit < BUDGET_US
            else "no",
        },
        notes=[
            f"{ROUNDS} alternating rounds of {CALLS} GETs ({len(BODY)} B JSON) per client after "
            "a warm-up; one Granian process answers with a bare ASGI app; client CPU is this "
            "process's user+system time per call. The kit client also mints (cached) service "
            "tokens and carries the request id and traceparent on every call."
        ],
    )


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "serve":
        subprocess_server.serve_forever(_hello, int(sys.argv[2]))
