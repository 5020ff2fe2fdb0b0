"""The push providers' HTTP/2 client: client CPU per push against the fake FCM, A/B.

A topic broadcast is one small POST per device, so the client's CPU per request bounds a
notifications process. Compared, in one run, alternating rounds: the client notifications uses
(services/notifications/provider_http2.py) and pyreqwest (Rust: hyper's HTTP/2 behind a
Python API) driven bare, each keeping 128 requests in flight over h2c to one fake provider
process. CPU is this process's user+system time (every thread: pyreqwest's runtime included).

The committed results are the A/B that moved the client onto pyreqwest: "ours" was then the
h2-state-machine client (commit a6c9570). Run now, "ours" is the pyreqwest-based client, and
the ratio is what its interface adds to bare pyreqwest.
"""

from __future__ import annotations

import asyncio
import resource
import secrets
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import orjson
import uvloop
from pyreqwest.client import ClientBuilder

from infra.local.stack import Stack, StackConfig
from services.notifications.provider_http2 import ProviderHttp2Client
from tests.bench.bench_push_fanout import _fcm_access_token
from tests.bench.reporting import BenchResult
from tests.support.servers import free_port

PUSHES = 6000
IN_FLIGHT = 128
ROUNDS = 3
SEND_PATH = "/v1/projects/tern-dev/messages:send"
BODY = orjson.dumps(
    {"message": {"token": "fcm-bench", "notification": {"title": "Model ready"}, "data": {}}}
)

Send = Callable[[], Awaitable[None]]


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _measure(send: Send) -> tuple[float, float]:
    """(client CPU us per push, pushes/s) for PUSHES sends, IN_FLIGHT at a time."""
    slots = asyncio.Semaphore(IN_FLIGHT)

    async def one() -> None:
        async with slots:
            await send()

    await asyncio.gather(*(one() for _ in range(300)))  # connections up, warm
    started, cpu = time.perf_counter(), _cpu_s()
    await asyncio.gather(*(one() for _ in range(PUSHES)))
    return (_cpu_s() - cpu) / PUSHES * 1e6, PUSHES / (time.perf_counter() - started)


async def _ours(url: str, headers: dict[str, str]) -> tuple[float, float]:
    client = ProviderHttp2Client(url, timeout_s=10)

    async def send() -> None:
        answer = await client.post(SEND_PATH, headers, BODY)
        assert answer.status == 200, answer

    try:
        return await _measure(send)
    finally:
        await client.aclose()


async def _pyreqwest(url: str, headers: dict[str, str]) -> tuple[float, float]:
    client = ClientBuilder().http2_prior_knowledge().timeout(timedelta(seconds=10)).build()

    async def send() -> None:
        request = client.post(url + SEND_PATH).headers(headers).body_bytes(BODY).build()
        answer = await request.send()
        await answer.bytes()
        assert answer.status == 200

    try:
        return await _measure(send)
    finally:
        await client.close()


def run() -> BenchResult:
    config = StackConfig(
        data_dir=Path(tempfile.mkdtemp(prefix="tern-bench-provider-client-")),
        ports={"fake_push": free_port()},
        service_token_secret=secrets.token_urlsafe(32),
        jwt_secret=secrets.token_urlsafe(32),
        environment="test",
        extra_env={"TERN_FAKE_PUSH_LOG_LEVEL": "WARNING", "TERN_FAKE_PUSH_MAX_RECORDED": "1000"},
    )
    stack = Stack(config, only=("fake_push",))
    stack.start(timeout_s=60)
    figures: dict[str, list[tuple[float, float]]] = {"ours": [], "pyreqwest": []}
    try:
        url = config.url("fake_push")
        headers = {
            "authorization": f"Bearer {_fcm_access_token(url)}",
            "content-type": "application/json",
        }
        for _ in range(ROUNDS):
            figures["ours"].append(uvloop.run(_ours(url, headers)))
            figures["pyreqwest"].append(uvloop.run(_pyreqwest(url, headers)))
    finally:
        stack.stop()
    names = {
        "ours": "notifications' provider client (services/notifications/provider_http2.py)",
        "pyreqwest": "pyreqwest, bare (hyper HTTP/2)",
    }
    medians = {
        name: (statistics.median(r[0] for r in rounds), statistics.median(r[1] for r in rounds))
        for name, rounds in figures.items()
    }
    return BenchResult(
        name="provider_client",
        title="Push provider HTTP/2 client: client CPU per push to the fake FCM (h2c)",
        columns=["client", "client CPU us/push (median)", "pushes/s (median)"],
        rows=[
            {
                "client": names[name],
                "client CPU us/push (median)": round(cpu, 1),
                "pushes/s (median)": round(rate, 1),
            }
            for name, (cpu, rate) in medians.items()
        ],
        summary={
            "ours / pyreqwest, CPU per push": round(medians["ours"][0] / medians["pyreqwest"][0], 2)
        },
        notes=[
            f"{ROUNDS} alternating rounds of {PUSHES} POSTs ({len(BODY)} B JSON), {IN_FLIGHT} in "
            "flight, after 300 to warm up; one fake provider process (Granian, h2c) on loopback; "
            "client CPU is this process's user+system time, all threads.",
        ],
    )
