"""GraphQL against REST for the same home screen, persisted queries, and a 50-job list with
its relations, in one run over the real stack (h2load over h2c, server CPU per process).

Loads, rounds alternating between them:

(a) the REST dashboard, uncached: a second BFF over the same services that keeps no pages;
(b) the same home screen as one GraphQL query, POSTed to that uncached BFF;
(c) the REST dashboard from the BFF as it runs by default (sections kept while current);
(d) the GraphQL home-screen query POSTed to that BFF (the viewer's lists read kept pages too);
(e) the same query as a persisted query: a GET with only its hash (registered once before);
(f) 50 training jobs with their dataset and model (the relations, when the schema has them),
    on the uncached BFF: downstream calls per query are counted in the services' access logs.

CPU per request is each process's user+system time over its load, divided by the requests.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import statistics
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
import orjson
import sqlalchemy as sa

from bff.compact.representation import COMPACT_MEDIA_TYPE
from infra.local.stack import StackConfig, service_env
from services.kit.database import Database
from services.training.settings import TrainingSettings
from services.training.tables import Job
from tests.bench.bench_request_path import _uncached_bff
from tests.bench.h2load import run_h2load
from tests.bench.process_cpu import cpu_seconds
from tests.bench.reporting import BenchResult
from tests.bench.viewer_stack import DASHBOARD_PROCESSES, running_stack, seed_viewer

ROUNDS = 2
CLIENTS, STREAMS = 8, 1
JOBS = 50
REQUESTS = {"a": 1_000, "b": 1_000, "c": 4_000, "d": 2_000, "e": 2_000, "f": 300}
LOADS = {
    "a": "REST dashboard, uncached",
    "b": "GraphQL home screen (POST), uncached",
    "c": "REST dashboard, kept pages (default BFF)",
    "d": "GraphQL home screen (POST), kept pages (default BFF)",
    "e": "GraphQL home screen, persisted (GET, hash only), kept pages",
    "f": f"GraphQL {JOBS} jobs with relations, uncached",
}
PHONE = {"accept": COMPACT_MEDIA_TYPE, "accept-encoding": "br", "x-platform": "ios"}
# The dashboard's four sections, a first page of 20 each, with what a home screen shows.
HOME_QUERY = """query Home { viewer {
  datasets(first: 20) { items { id name rowCount latestVersion updatedAt } nextCursor }
  models(first: 20) { items { id name task latestVersion updatedAt } nextCursor }
  trainingJobs(first: 20) { items { id status modelName metrics createdAt finishedAt } nextCursor }
  notifications(first: 20, unread: true) { items { id category title body createdAt } nextCursor }
} }"""
JOBS_WITH_RELATIONS = f"""query Jobs {{ viewer {{ trainingJobs(first: {JOBS}) {{ items {{
  id status modelName createdAt
  dataset {{ id name rowCount }}
  trainedModel {{ id name latestVersion }}
}} }} }} }}"""
JOBS_ALONE = f"""query Jobs {{ viewer {{ trainingJobs(first: {JOBS}) {{ items {{
  id status modelName createdAt datasetId modelId
}} }} }} }}"""
_IGNORED_PATHS = ("/internal/v1/versions/watch", "/health", "/ready", "/metrics")


def run() -> BenchResult:
    with running_stack("bench-graphql-") as (stack, config):
        with httpx.Client(base_url=config.bff_url, timeout=60) as client:
            auth = seed_viewer(client)
            asyncio.run(_clone_jobs(config, _user_of(client, auth), JOBS))
            jobs_query, relations = _jobs_query(client, auth)
            apq_path = _register(client, auth, HOME_QUERY)
        services = {name: stack.processes[name].process.pid for name in DASHBOARD_PROCESSES}
        with (
            _uncached_bff(stack, config) as (uncached_url, uncached_pid),
            tempfile.TemporaryDirectory() as tmp,
        ):
            home_file = _body_file(Path(tmp) / "home.json", HOME_QUERY)
            jobs_file = _body_file(Path(tmp) / "jobs.json", jobs_query)
            json_auth = {**auth, "content-type": "application/json"}
            targets: dict[str, tuple[str, dict[str, str], str | None]] = {
                "a": (f"{uncached_url}/api/v1/dashboard", {**PHONE, **auth}, None),
                "b": (f"{uncached_url}/graphql", json_auth, home_file),
                "c": (f"{config.bff_url}/api/v1/dashboard", {**PHONE, **auth}, None),
                "d": (f"{config.bff_url}/graphql", json_auth, home_file),
                "e": (f"{config.bff_url}{apq_path}", auth, None),
                "f": (f"{uncached_url}/graphql", json_auth, jobs_file),
            }
            uncached = {**services, "bff": uncached_pid}
            pids = {load: uncached if load in "abf" else services for load in targets}
            calls = {
                load: _downstream_calls(stack.log_dir, lambda t=targets[load]: _once(*t))
                for load in ("a", "b", "f")
            }
            answer_bytes = {load: len(_once(*targets[load])) for load in ("a", "b")}
            figures = _measure(targets, pids)
    request_bytes = {
        "POST with the query": len(orjson.dumps({"query": HOME_QUERY})) + len("/graphql"),
        "GET with the hash only (APQ)": len(apq_path),
    }
    return _result(figures, calls, request_bytes, answer_bytes, relations)


def _user_of(client: httpx.Client, auth: dict[str, str]) -> str:
    answer = client.post("/graphql", json={"query": "{ viewer { id } }"}, headers=auth)
    user_id: str = answer.json()["data"]["viewer"]["id"]
    return user_id


async def _clone_jobs(config: StackConfig, owner: str, total: int) -> None:
    """Bring the viewer to `total` finished jobs: copies of the trained ones (same dataset
    and model), written straight into the training service's database."""
    with mock.patch.dict(os.environ, service_env(config, "training")):
        settings = TrainingSettings()
    db = Database(settings.sqlalchemy_url)
    try:
        async with db.transaction() as session:
            jobs = (await session.scalars(sa.select(Job).where(Job.owner_id == owner))).all()
            columns = [c.key for c in sa.inspect(Job).columns]
            for n in range(total - len(jobs)):
                source = jobs[n % len(jobs)]
                values = {key: getattr(source, key) for key in columns}
                values["id"] = uuid.uuid4()
                values["created_at"] = source.created_at - timedelta(minutes=n + 1)
                session.add(Job(**values))
    finally:
        await db.dispose()


def _jobs_query(client: httpx.Client, auth: dict[str, str]) -> tuple[str, bool]:
    """The 50-jobs query with relations if the schema has them, else the jobs alone."""
    answer = client.post("/graphql", json={"query": JOBS_WITH_RELATIONS}, headers=auth).json()
    if answer.get("data") and not answer.get("errors"):
        assert len(answer["data"]["viewer"]["trainingJobs"]["items"]) == JOBS
        return JOBS_WITH_RELATIONS, True
    alone = client.post("/graphql", json={"query": JOBS_ALONE}, headers=auth).json()
    assert len(alone["data"]["viewer"]["trainingJobs"]["items"]) == JOBS, alone
    return JOBS_ALONE, False


def _register(client: httpx.Client, auth: dict[str, str], query: str) -> str:
    """Register `query` as a persisted query; the path of a GET that runs it by hash."""
    sha256 = hashlib.sha256(query.encode()).hexdigest()
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": sha256}}
    registered = client.post(
        "/graphql", json={"query": query, "extensions": extensions}, headers=auth
    )
    assert "errors" not in registered.json(), registered.text
    params = urllib.parse.urlencode(
        {"operationName": "Home", "extensions": orjson.dumps(extensions).decode()}
    )
    path = f"/graphql?{params}"
    found = client.get(path, headers=auth)
    assert found.status_code == 200 and "errors" not in found.json(), found.text
    return path


def _body_file(path: Path, query: str) -> str:
    path.write_bytes(orjson.dumps({"query": query}))
    return str(path)


def _once(url: str, headers: dict[str, str], body: str | None) -> bytes:
    with httpx.Client(timeout=30) as client:
        if body is None:
            response = client.get(url, headers=headers)
        else:
            response = client.post(url, headers=headers, content=Path(body).read_bytes())
    assert response.status_code == 200, response.text
    content: bytes = response.content
    return content


def _downstream_calls(log_dir: Path, request: Callable[[], Any]) -> int:
    """How many requests the services served for one call of `request` (their access logs)."""

    def counted() -> int:
        total = 0
        for name in DASHBOARD_PROCESSES:
            if name == "bff":
                continue
            for line in (log_dir / f"{name}.log").read_text(errors="replace").splitlines():
                if '"event":"request"' in line and not any(p in line for p in _IGNORED_PATHS):
                    total += 1
        return total

    before = counted()
    request()
    time.sleep(0.5)  # the services' logs are line-buffered files written by other processes
    return counted() - before


def _measure(
    targets: dict[str, tuple[str, dict[str, str], str | None]], pids: dict[str, dict[str, int]]
) -> dict[str, list[dict[str, float]]]:
    figures: dict[str, list[dict[str, float]]] = {load: [] for load in targets}
    for url, headers, body in targets.values():  # warm-up
        run_h2load(url, 100, CLIENTS, STREAMS, headers, body)
    for _ in range(ROUNDS):
        for load, (url, headers, body) in targets.items():
            before = {name: cpu_seconds(pid) for name, pid in pids[load].items()}
            result = run_h2load(
                url, REQUESTS[load], CLIENTS, STREAMS, headers, body, per_request=True
            )
            spent = {name: cpu_seconds(pid) - before[name] for name, pid in pids[load].items()}
            wrong = sum(status != 200 for status in result.statuses)
            assert wrong == 0, f"{LOADS[load]}: {wrong} answers were not 200"
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


def _result(
    figures: dict[str, list[dict[str, float]]],
    calls: dict[str, int],
    request_bytes: dict[str, int],
    answer_bytes: dict[str, int],
    relations: bool,
) -> BenchResult:
    medians = {
        load: {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
        for load, rounds in figures.items()
    }
    rate = {load: values["req/s"] for load, values in medians.items()}
    rows: list[dict[str, Any]] = []
    for load, values in medians.items():
        row: dict[str, Any] = {"load": f"({load}) {LOADS[load]}"}
        row.update({k: round(v, 2) for k, v in values.items() if not k.endswith("CPU ms/req")})
        cpu = {k.removesuffix(" CPU ms/req"): v for k, v in values.items() if "CPU" in k}
        row["bff CPU ms/req"] = round(cpu["bff"], 2)
        row["stack CPU ms/req"] = round(sum(cpu.values()), 2)
        row["server CPU ms/req"] = ", ".join(f"{k} {v:.2f}" for k, v in cpu.items())
        row["downstream calls/req"] = calls.get(load, "")
        rows.append(row)
    summary: dict[str, Any] = {
        "(b) / (a): GraphQL vs REST, uncached (target >= 0.8)": round(rate["b"] / rate["a"], 3),
        "(d) / (c): GraphQL vs REST, kept pages (target >= 0.8)": round(rate["d"] / rate["c"], 3),
        "(e) / (d): persisted GET vs POST": round(rate["e"] / rate["d"], 3),
        **{f"request bytes, {k}": v for k, v in request_bytes.items()},
        "answer bytes, REST dashboard (compact, br)": answer_bytes["a"],
        "answer bytes, GraphQL home screen (JSON, identity)": answer_bytes["b"],
        f"downstream calls per {JOBS}-jobs query": calls["f"],
    }
    relations_note = (
        f"(f) asks each job's dataset and trained model (DataLoaders): {calls['f']} "
        "downstream calls per query."
        if relations
        else f"(f) asks the {JOBS} jobs without relations: `TrainingJob.dataset`/"
        "`trainedModel` were not in the schema when this ran (the query side's DataLoaders "
        "had not landed); rerun `make bench BENCH=graphql` once they have."
    )
    return BenchResult(
        name="graphql",
        title="GraphQL vs REST for the home screen, persisted queries, 50 jobs with relations",
        columns=[
            "load",
            "req/s",
            "p50 ms",
            "p99 ms",
            "downstream calls/req",
            "bff CPU ms/req",
            "stack CPU ms/req",
            "server CPU ms/req",
        ],
        rows=rows,
        summary=summary,
        notes=[
            f"h2load -c{CLIENTS} -m{STREAMS} over h2c; {ROUNDS} rounds alternating the loads "
            f"({', '.join(f'({k}) {n}' for k, n in REQUESTS.items())} requests), medians of "
            "rounds. The viewer (tests/bench/viewer_stack.py) has 20 datasets, 20 trained jobs "
            f"(copied to {JOBS} in the training database for (f)) over 4 models and their "
            "notifications. The REST dashboard is asked as a phone does (compact, br); GraphQL "
            "answers JSON (not compressed). Downstream calls are counted once per load in the "
            "services' access logs (watch streams and probes left out). Every process runs on "
            "its default server (Granian) on uvloop, embedded defaults (SQLite), sharing this "
            "machine's 2 CPUs with h2load.",
            relations_note,
        ],
    )
