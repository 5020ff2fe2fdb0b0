"""Compact REST for phones: bytes of one realistic dashboard in each representation and content
coding, and ten reads as one batch vs ten sequential requests over a 100 ms-RTT link.

Bytes go through the BFF's own representation middleware (the code phones hit). The RTT is
simulated on loopback by a delay proxy (RTT/2 each way) in front of the real BFF on Hypercorn.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from fastapi import APIRouter, FastAPI

from bff.compact.representation import COMPACT_MEDIA_TYPE, RepresentationMiddleware
from bff.dashboard import Dashboard, Section
from proto.datasets import ColumnSchema, Dataset
from proto.inference import FeatureSpec, Model
from proto.notifications import Notification
from proto.training import TrainingJob
from tests.bench.reporting import BenchResult
from tests.support.servers import free_port, serve_app

RTT_S = 0.100
BATCH_SIZE = 10
ROUNDS = 5
CODINGS = ("identity", "gzip", "br", "zstd")
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


def realistic_dashboard(seed: int = 7) -> Dashboard:
    """One viewer: 50 datasets, 12 models, 200 jobs, 100 notifications (70 unread)."""
    rnd = random.Random(seed)
    owner = str(uuid.UUID(int=rnd.getrandbits(128)))
    start = datetime(2026, 3, 1, tzinfo=UTC)

    def uid() -> uuid.UUID:
        return uuid.UUID(int=rnd.getrandbits(128), version=4)

    def moment() -> datetime:
        return start + timedelta(seconds=rnd.uniform(0, 90 * 86400))

    names = ["age", "income", "tenure_months", "plan", "country", "churned", "visits", "score"]
    types = ["integer", "number", "integer", "string", "string", "boolean", "integer", "number"]
    columns = [
        ColumnSchema.model_validate(
            {
                "name": n,
                "type": t,
                "nulls": rnd.randint(0, 40),
                "distinct_estimate": rnd.randint(2, 900),
            }
        )
        for n, t in zip(names, types, strict=True)
    ]
    datasets = [
        Dataset(
            id=uid(),
            name=f"customers_{2024 + i % 3}_q{i % 4 + 1}_{i}.csv",
            owner_id=owner,
            latest_version=rnd.randint(1, 6),
            row_count=rnd.randint(500, 200_000),
            columns=columns,
            created_at=moment(),
            updated_at=moment(),
        )
        for i in range(50)
    ]
    models = [
        Model(
            id=uid(),
            name=f"churn model {i}",
            owner_id=owner,
            task="classification",
            latest_version=rnd.randint(1, 9),
            aliases={"production": 2, "staging": 3},
            features=[FeatureSpec(name=n, type="number") for n in names[:6]],
            created_at=moment(),
            updated_at=moment(),
        )
        for i in range(12)
    ]
    statuses = ["succeeded"] * 6 + ["failed", "running", "queued", "cancelled"]
    jobs = []
    for i in range(200):
        status = rnd.choice(statuses)
        done = status in ("succeeded", "failed", "cancelled")
        created = moment()  # a worker picks a job up in seconds and trains it in minutes
        started = created + timedelta(seconds=rnd.uniform(0.2, 20))
        finished = started + timedelta(seconds=rnd.uniform(5, 900))
        jobs.append(
            TrainingJob(
                id=uid(),
                owner_id=owner,
                status=status,  # type: ignore[arg-type]
                dataset_id=datasets[i % 50].id,
                dataset_version=1,
                target="churned",
                features=names[:5],
                task="classification",
                model="logistic_regression",
                model_name=f"churn model {i % 12}",
                hyperparameters={"C": 1.0, "max_iter": 200},
                validation_split=0.2,
                seed=0,
                created_at=created,
                started_at=started if status != "queued" else None,
                finished_at=finished if done else None,
                error="dataset has a single class" if status == "failed" else None,
                metrics={"accuracy": rnd.random(), "f1": rnd.random(), "roc_auc": rnd.random()}
                if status == "succeeded"
                else None,
                model_id=models[i % 12].id if status == "succeeded" else None,
                model_version=rnd.randint(1, 9) if status == "succeeded" else None,
            )
        )
    notifications = [
        Notification(
            id=uid(),
            category="training",
            title="Your model is ready",
            body=f"churn model {i % 12} finished training: accuracy {rnd.random():.2f}",
            data={"job_id": str(jobs[i].id), "kind": "job_succeeded"},
            created_at=moment(),
            read_at=moment() if i % 10 < 3 else None,
        )
        for i in range(100)
    ]
    # Every list comes newest first, as the services page them.
    datasets.sort(key=lambda d: (d.created_at, d.id), reverse=True)
    jobs.sort(key=lambda j: (j.created_at, j.id), reverse=True)
    notifications.sort(key=lambda n: (n.created_at, n.id), reverse=True)
    unread = [n for n in notifications if n.read_at is None]
    return Dashboard(
        datasets=Section[Dataset](items=datasets),
        models=Section[Model](items=models),
        jobs=Section[TrainingJob](items=jobs),
        notifications=Section[Notification](items=unread),
        unread_count=len(unread),
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


async def _bytes_rows() -> list[dict[str, object]]:
    app = _dashboard_app(realistic_dashboard())
    variants = {
        "plain JSON": ({}, {}),
        "compact": ({"accept": COMPACT_MEDIA_TYPE}, {}),
        "compact + fields": ({"accept": COMPACT_MEDIA_TYPE}, {"fields": HOME_SCREEN_FIELDS}),
    }
    rows = []
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        for label, (headers, params) in variants.items():
            row: dict[str, object] = {"representation": label}
            for coding in CODINGS:
                request_headers = {**headers, "accept-encoding": coding}
                async with client.stream(
                    "GET", "/api/v1/dashboard", headers=request_headers, params=params
                ) as response:
                    raw = b"".join([chunk async for chunk in response.aiter_raw()])
                assert response.status_code == 200, response.status_code
                row[coding] = len(raw)
            rows.append(row)
    return rows


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

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection("127.0.0.1", target_port)
        await asyncio.gather(
            pipe(client_r, server_w), pipe(server_r, client_w), return_exceptions=True
        )

    port = free_port()
    server = await asyncio.start_server(handle, "127.0.0.1", port)
    try:
        yield port
    finally:
        server.close()


async def _batch_vs_sequential() -> dict[str, float]:
    from bff.app import create_app
    from tests.bff.conftest import bff_settings

    with tempfile.TemporaryDirectory() as tmp:
        limits = {"auth": "1000/60", "read": "100000/60", "write": "1000/60", "batch": "1000/60"}
        bff = create_app(bff_settings(Path(tmp), rate_limits=limits, log_level="WARNING"))
        async with serve_app(bff) as url:
            bff_port = int(url.rsplit(":", 1)[1])
            async with _delay_proxy(bff_port, RTT_S / 2) as proxy_port:
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{proxy_port}") as http:
                    return await _time_reads(http)


async def _time_reads(http: httpx.AsyncClient) -> dict[str, float]:
    signed = await http.post(
        "/api/v1/auth/register",
        json={"email": "bench@example.com", "password": "correct horse battery"},
        headers={"X-Device-ID": "bench-phone"},
    )
    auth = {"authorization": f"Bearer {signed.json()['access_token']}"}
    paths = ["/api/v1/me", "/api/v1/sessions", "/api/v1/app-config"]
    reads = [paths[i % len(paths)] for i in range(BATCH_SIZE)]
    batch_body = {"requests": [{"id": str(i), "path": p} for i, p in enumerate(reads)]}
    sequential, batched = [], []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for path in reads:
            assert (await http.get(path, headers=auth)).status_code == 200
        sequential.append(time.perf_counter() - started)
        started = time.perf_counter()
        answer = await http.post("/api/v1/batch", json=batch_body, headers=auth)
        batched.append(time.perf_counter() - started)
        assert all(item["status"] == 200 for item in answer.json()["responses"])
    return {
        "sequential_ms": statistics.median(sequential) * 1000,
        "batch_ms": statistics.median(batched) * 1000,
    }


def run() -> BenchResult:
    rows = asyncio.run(_bytes_rows())
    timing = asyncio.run(_batch_vs_sequential())
    plain, compact = rows[0], rows[1]
    summary = {
        "compact+br vs plain JSON (smaller by)": _saving(compact["br"], plain["identity"]),
        "compact+br vs plain JSON+gzip (smaller by)": _saving(compact["br"], plain["gzip"]),
        "compact+fields+br vs plain JSON+gzip (smaller by)": _saving(rows[2]["br"], plain["gzip"]),
        f"{BATCH_SIZE} sequential reads, ms (median)": round(timing["sequential_ms"], 1),
        f"batch of {BATCH_SIZE} reads, ms (median)": round(timing["batch_ms"], 1),
        "batch speed-up": round(timing["sequential_ms"] / timing["batch_ms"], 2),
    }
    return BenchResult(
        name="compact",
        title="Dashboard bytes by representation and coding; batch vs sequential at 100 ms RTT",
        columns=["representation", *CODINGS],
        rows=rows,
        summary=summary,
        notes=[
            "One viewer: 50 datasets (8 columns each), 12 models, 200 jobs, 70 unread of 100 "
            "notifications, all in one dashboard answer; bytes on the wire (body, after coding).",
            "Levels: brotli quality 5, zstd 3, gzip 6 (the BFF defaults).",
            f"Batch: {BATCH_SIZE} BFF-local reads over HTTP/1.1 keep-alive through a loopback "
            f"delay proxy ({RTT_S * 1000:.0f} ms RTT), median of {ROUNDS} rounds.",
        ],
    )


def _saving(size: object, baseline: object) -> str:
    assert isinstance(size, int) and isinstance(baseline, int)
    return f"{(1 - size / baseline) * 100:.1f}%"
