"""The worker under stress: live progress over SSE with resume, an MLP job to a registered
torch model and its PNG report, a training process killed with SIGKILL, and two replicas on one
database that never run a job twice (PostgreSQL when TEST_DATABASE_URL is set, and SQLite).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from services.datasets.app import create_app as create_datasets_app
from services.datasets.settings import DatasetsSettings
from services.inference.app import create_app as create_inference_app
from services.inference.settings import InferenceSettings
from services.kit.database import Database
from services.notifications.app import create_app as create_notifications_app
from services.notifications.settings import NotificationsSettings
from services.training import job_queue
from services.training.app import create_app
from services.training.settings import TrainingSettings
from services.training.tables import Job
from services.training.worker import JobWorker
from tests.support.apps import running_app, service_headers
from tests.support.servers import serve_app
from tests.support.settings import make_settings
from tests.support.training_setup import ALICE, BOB, DatasetsApi, people_csv, training_settings


def alice() -> dict[str, str]:
    """A fresh service token for Alice (tokens are short-lived)."""
    return service_headers("training", ALICE)


@dataclass
class Downstream:
    datasets: DatasetsApi
    inference_url: str
    notifications_url: str


@pytest.fixture
async def downstream(tmp_path: Path) -> AsyncIterator[Downstream]:
    """The real datasets, inference and notifications services on loopback ports."""
    notifications = make_settings(
        NotificationsSettings,
        tmp_path / "notifications",
        log_json=False,
        fcm_enabled=False,
        apns_enabled=False,
    )
    async with (
        serve_app(
            create_datasets_app(make_settings(DatasetsSettings, tmp_path / "ds", log_json=False))
        ) as datasets_url,
        serve_app(
            create_inference_app(
                make_settings(InferenceSettings, tmp_path / "inference", log_json=False)
            )
        ) as inference_url,
        serve_app(create_notifications_app(notifications)) as notifications_url,
    ):
        yield Downstream(DatasetsApi(datasets_url), inference_url, notifications_url)


@dataclass
class Replica:
    app: FastAPI
    http: httpx.AsyncClient

    @property
    def worker(self) -> JobWorker:
        worker = self.app.state.context.worker
        assert isinstance(worker, JobWorker)
        return worker


@asynccontextmanager
async def replica(
    downstream: Downstream, data_dir: Path, **overrides: Any
) -> AsyncIterator[Replica]:
    """One training service instance with its worker on (short leases unless overridden)."""
    values: dict[str, Any] = {
        "worker_enabled": True,
        "poll_interval_s": 0.1,
        "heartbeat_s": 0.3,
        "lease_s": 3,
        "progress_interval_s": 0.1,
        "events_poll_s": 0.1,
        **overrides,
    }
    settings = training_settings(
        data_dir,
        datasets_url=downstream.datasets.base_url,
        inference_url=downstream.inference_url,
        notifications_url=downstream.notifications_url,
        **values,
    )
    app = create_app(settings)
    async with running_app(app) as http:
        yield Replica(app, http)


async def create_job(http: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await http.post("/internal/v1/jobs", json=body, headers=alice())
    assert response.status_code == 201, response.text
    job: dict[str, Any] = response.json()
    return job


async def get_job(http: httpx.AsyncClient, job_id: str) -> dict[str, Any]:
    response = await http.get(f"/internal/v1/jobs/{job_id}", headers=alice())
    assert response.status_code == 200, response.text
    job: dict[str, Any] = response.json()
    return job


async def wait_until(http: httpx.AsyncClient, job_id: str, *statuses: str) -> dict[str, Any]:
    async with asyncio.timeout(120):
        while True:
            job = await get_job(http, job_id)
            if job["status"] in statuses:
                return job
            await asyncio.sleep(0.1)


async def wait_for_report(http: httpx.AsyncClient, job_id: str) -> dict[str, Any]:
    async with asyncio.timeout(120):
        while True:
            job = await get_job(http, job_id)
            if job["report_ready_at"] is not None:
                return job
            await asyncio.sleep(0.05)


def parse_sse(body: str) -> list[dict[str, str]]:
    """The events of an SSE body as {id, event, data} (comments and retry lines dropped)."""
    events = []
    for block in body.split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            name, _, value = line.partition(": ")
            if name in ("id", "event", "data"):
                fields[name] = value
        if "event" in fields:
            events.append(fields)
    return events


# Minutes of training: a job that is still training whenever a test looks.
SLOW_MLP = {"hidden_layers": [64, 64], "epochs": 400, "patience": 400, "batch_size": 4}
MLP_JOB = {
    "target": "bought",
    "model": "mlp",
    "hyperparameters": {"hidden_layers": [8], "epochs": 12, "patience": 50, "batch_size": 16},
}


async def test_an_mlp_job_streams_progress_registers_a_torch_model_and_draws_a_report(
    downstream: Downstream, tmp_path: Path
) -> None:
    version = await downstream.datasets.upload_csv(ALICE, people_csv(rows=80))
    async with replica(downstream, tmp_path / "training") as training:
        job = await create_job(training.http, dataset_id=version["dataset_id"], **MLP_JOB)

        streamed = await training.http.get(f"/internal/v1/jobs/{job['id']}/events", headers=alice())
        assert streamed.headers["content-type"].startswith("text/event-stream")
        events = parse_sse(streamed.text)
        progress = [e for e in events if e["event"] == "progress"]
        assert [int(e["id"]) for e in progress] == list(range(1, 13))
        assert events[-1]["event"] == "status" and '"succeeded"' in events[-1]["data"]
        assert '"val_loss":' in progress[0]["data"] and '"eta_s":' in progress[0]["data"]

        resumed = await training.http.get(
            f"/internal/v1/jobs/{job['id']}/events",
            headers={**alice(), "Last-Event-ID": "10"},
        )
        assert [e["id"] for e in parse_sse(resumed.text)] == ["11", "12", "12"]
        # An id no stream of ours ever sent (past 64 bits) replays from the start, whole.
        foreign = await training.http.get(
            f"/internal/v1/jobs/{job['id']}/events",
            headers={**alice(), "Last-Event-ID": "9" * 30},
        )
        assert foreign.status_code == 200
        replayed = parse_sse(foreign.text)
        assert replayed[:-1] == events[:-1]  # every progress step, as streamed live
        # The closing status is the job as it is now: its report may have landed since.
        assert replayed[-1]["event"] == "status" and '"succeeded"' in replayed[-1]["data"]

        succeeded = await get_job(training.http, job["id"])
        assert succeeded["status"] == "succeeded", succeeded["error"]
        # The report follows the success, computed from the same fitted model.
        done = await wait_for_report(training.http, job["id"])
        assert done["report_ready_at"] >= done["finished_at"]
        result = done["result"]
        assert result["artifact_format"] == "torch-safetensors"
        assert len(result["history"]) == 12
        assert result["confusion_matrix"]["labels"] == ["no", "yes"]
        assert result["roc_curve"] and result["feature_importance"]

        report = await training.http.get(
            f"/internal/v1/jobs/{job['id']}/report.png", headers=alice()
        )
        assert report.status_code == 200, report.text
        assert report.content.startswith(b"\x89PNG\r\n\x1a\n")
        others = service_headers("training", BOB)
        for path in ("events", "report.png"):
            hidden = await training.http.get(
                f"/internal/v1/jobs/{job['id']}/{path}", headers=others
            )
            assert hidden.status_code == 404

    row = {"age": 52, "city": "oslo", "member": "true", "spend": 130.0, "constant": "same"}
    async with httpx.AsyncClient(base_url=downstream.inference_url + "/internal/v1") as client:
        predicted = await client.post(
            f"/models/{done['model_id']}/predict",
            json={"rows": [row]},
            headers=service_headers("inference", ALICE),
        )
    assert predicted.status_code == 200, predicted.text
    assert predicted.json()["predictions"][0]["label"] in {"yes", "no"}


async def test_a_forest_succeeds_then_its_report_lands_as_a_change_of_the_job(
    downstream: Downstream, tmp_path: Path
) -> None:
    version = await downstream.datasets.upload_csv(ALICE, people_csv(rows=120))
    async with replica(downstream, tmp_path / "training") as training:
        job = await create_job(
            training.http, dataset_id=version["dataset_id"], target="bought", model="random_forest"
        )
        succeeded = await wait_until(training.http, job["id"], "succeeded", "failed")
        assert succeeded["status"] == "succeeded", succeeded["error"]
        # At success: a model to predict with, its metrics, history and artifact facts.
        assert succeeded["model_id"] and {"accuracy", "f1"} <= set(succeeded["metrics"])
        assert {"history", "artifact_format", "classes"} <= set(succeeded["result"])
        if succeeded["report_ready_at"] is None:
            assert "confusion_matrix" not in succeeded["result"]
        done = await wait_for_report(training.http, job["id"])
        feed = await training.http.get("/internal/v1/feed", headers=alice())
        async with asyncio.timeout(10):
            while training.worker.pool.busy:  # the report's process is given back
                await asyncio.sleep(0.05)
    assert done["report_ready_at"] >= done["finished_at"]
    assert done["metrics"] == succeeded["metrics"]
    assert done["result"]["history"] == succeeded["result"]["history"]
    assert done["result"]["confusion_matrix"]["labels"] == ["no", "yes"]
    assert done["result"]["roc_curve"] and done["result"]["feature_importance"]
    # The report's arrival moved the job's entry in its owner's change feed.
    [entry] = [e for e in feed.json()["entries"] if e["id"] == job["id"]]
    assert entry["data"] == done


async def test_a_report_its_worker_died_before_storing_is_computed_by_the_next(
    downstream: Downstream, tmp_path: Path
) -> None:
    version = await downstream.datasets.upload_csv(ALICE, people_csv(rows=80))
    history = [{"epoch": 1.0, "loss": 0.5}]
    async with replica(downstream, tmp_path / "training", worker_enabled=False) as idle:
        job = await create_job(
            idle.http, dataset_id=version["dataset_id"], target="bought", model="random_forest"
        )
        db = idle.app.state.context.db
        # What a replica killed between the success and the report leaves behind.
        held = await job_queue.claim_next(db, "killed-replica", lease_s=30, max_attempts=2)
        assert held is not None
        facts = {"artifact_format": "onnx", "history": history}
        assert await job_queue.finish(
            db, held.id, "killed-replica", "succeeded", result=facts, report_lease_s=0.5
        )
        assert (await get_job(idle.http, job["id"]))["report_ready_at"] is None
    async with replica(downstream, tmp_path / "training") as survivor:
        done = await wait_for_report(survivor.http, job["id"])
        report = await survivor.http.get(
            f"/internal/v1/jobs/{job['id']}/report.png", headers=alice()
        )
    assert done["status"] == "succeeded"
    result = done["result"]
    assert result["confusion_matrix"]["labels"] == ["no", "yes"]
    assert result["roc_curve"] and result["feature_importance"]
    # The history stays the one of the training that made the registered model.
    assert result["history"] == history and result["artifact_format"] == "onnx"
    assert "report_error" not in result
    assert report.status_code == 200


async def test_a_report_waits_for_success(downstream: Downstream, tmp_path: Path) -> None:
    version = await downstream.datasets.upload_csv(ALICE, people_csv(rows=40))
    async with replica(downstream, tmp_path / "training", worker_enabled=False) as training:
        job = await create_job(training.http, dataset_id=version["dataset_id"], target="bought")
        report = await training.http.get(
            f"/internal/v1/jobs/{job['id']}/report.png", headers=alice()
        )
    assert report.status_code == 409
    assert report.json()["error"]["code"] == "REPORT_NOT_READY"


async def test_a_training_process_killed_mid_job_is_retried_never_left_running(
    downstream: Downstream, tmp_path: Path
) -> None:
    version = await downstream.datasets.upload_csv(ALICE, people_csv(rows=400))
    async with replica(downstream, tmp_path / "training", max_attempts=2) as training:
        job = await create_job(
            training.http,
            dataset_id=version["dataset_id"],
            target="bought",
            model="mlp",
            hyperparameters=SLOW_MLP,
        )
        await wait_until(training.http, job["id"], "running")
        pids = await _training_pids(training.worker, job["id"])
        for pid in pids:
            os.kill(pid, signal.SIGKILL)

        # The lease expires, the job is claimed again (attempt 2) and progress restarts.
        second = await _first_event_of_attempt(training, job["id"], attempt=2)
        assert second is not None
        job_now = await get_job(training.http, job["id"])
        assert job_now["status"] == "running"
        for pid in await _training_pids(training.worker, job["id"]):
            os.kill(pid, signal.SIGKILL)

        # Out of attempts: failed with a message, not stuck running.
        done = await wait_until(training.http, job["id"], "failed", "succeeded")
    assert done["status"] == "failed"
    assert "stopped unexpectedly 2 times" in done["error"]
    assert done["finished_at"] is not None


async def _training_pids(worker: JobWorker, job_id: str) -> list[int]:
    """PIDs of the pool's training processes once this job's progress shows it is training."""
    async with asyncio.timeout(60):
        while True:
            pids = worker.pool.pids()
            if pids and await _events_of(worker.db, job_id):
                return pids
            await asyncio.sleep(0.05)


async def _events_of(db: Database, job_id: str) -> list[tuple[int, int]]:
    async with db.session() as session:
        rows = await session.execute(
            sa.text("SELECT seq, attempt FROM job_events WHERE job_id = :id ORDER BY seq"),
            {"id": uuid.UUID(job_id).hex if db.is_sqlite else uuid.UUID(job_id)},
        )
        return [(int(seq), int(attempt)) for seq, attempt in rows]


async def _first_event_of_attempt(training: Replica, job_id: str, attempt: int) -> int | None:
    async with asyncio.timeout(60):
        while True:
            for seq, event_attempt in await _events_of(training.worker.db, job_id):
                if event_attempt == attempt:
                    return seq
            await asyncio.sleep(0.05)


async def test_a_job_its_replica_died_holding_is_taken_over_within_the_default_lease(
    downstream: Downstream, tmp_path: Path
) -> None:
    defaults = {name: field.default for name, field in TrainingSettings.model_fields.items()}
    version = await downstream.datasets.upload_csv(ALICE, people_csv(rows=40))
    lease = {key: defaults[key] for key in ("lease_s", "heartbeat_s", "poll_interval_s")}
    async with replica(downstream, tmp_path / "training", worker_enabled=False) as idle:
        job = await create_job(idle.http, dataset_id=version["dataset_id"], **MLP_JOB)
        # What a replica killed mid-job leaves behind: the job running, its lease unrenewed.
        held = await job_queue.claim_next(
            idle.app.state.context.db, "killed-replica", lease_s=lease["lease_s"], max_attempts=2
        )
        assert held is not None and str(held.id) == job["id"]
    async with replica(downstream, tmp_path / "training", **lease) as survivor:
        attempts = sa.select(Job.attempts).where(Job.id == held.id)
        async with asyncio.timeout(lease["lease_s"] + lease["poll_interval_s"] + 2):
            while (await survivor.worker.db.fetch_all(attempts))[0][0] < 2:
                await asyncio.sleep(0.1)
        done = await wait_until(survivor.http, job["id"], "succeeded", "failed")
    assert done["status"] == "succeeded", done["error"]


async def test_two_replicas_on_one_database_never_run_a_job_twice(
    downstream: Downstream, tmp_path: Path, database_url: str
) -> None:
    version = await downstream.datasets.upload_csv(ALICE, people_csv(rows=40))
    async with AsyncExitStack() as stack:
        # Leases long enough that a busy machine's late heartbeat is not a lost lease: the
        # point is that two replicas never claim one job, not how fast a dead one is replaced.
        lease = {"lease_s": 10, "heartbeat_s": 0.5}
        first = await stack.enter_async_context(
            replica(downstream, tmp_path / "a", database_url=database_url, concurrency=1, **lease)
        )
        second = await stack.enter_async_context(
            replica(downstream, tmp_path / "b", database_url=database_url, concurrency=1, **lease)
        )
        jobs = [
            await create_job(
                (first, second)[i % 2].http,
                dataset_id=version["dataset_id"],
                target="bought",
                model_name=f"model {i}",
            )
            for i in range(5)
        ]
        done = [await wait_until(first.http, job["id"], "succeeded", "failed") for job in jobs]
        async with first.worker.db.session() as session:
            rows = (await session.execute(sa.select(Job))).scalars().all()
            attempts = {row.id: row.attempts for row in rows}
    assert [job["status"] for job in done] == ["succeeded"] * 5
    assert set(attempts.values()) == {1}  # every job claimed exactly once
    assert all(job["model_version"] == 1 for job in done)  # each registered once


async def test_cancelling_a_training_job_stops_it_within_seconds_with_default_settings(
    downstream: Downstream, tmp_path: Path
) -> None:
    defaults = TrainingSettings.model_fields
    async with replica(
        downstream,
        tmp_path / "training",
        heartbeat_s=defaults["heartbeat_s"].default,
        lease_s=defaults["lease_s"].default,
    ) as training:
        # What an operator gets without tuning.
        assert training.worker.settings.cancel_poll_s == defaults["cancel_poll_s"].default
        version = await downstream.datasets.upload_csv(ALICE, people_csv(rows=400))
        job = await create_job(
            training.http,
            dataset_id=version["dataset_id"],
            target="bought",
            model="mlp",
            hyperparameters=SLOW_MLP,
        )
        (pid,) = await _training_pids(training.worker, job["id"])  # past its first epoch
        asked = await training.http.post(f"/internal/v1/jobs/{job['id']}/cancel", headers=alice())
        assert asked.status_code == 200, asked.text

        # The cancel poll (1 s) plus one epoch (well under a second here).
        async with asyncio.timeout(5):
            done = await wait_until(training.http, job["id"], "cancelled", "failed", "succeeded")
        events = await training.http.get(f"/internal/v1/jobs/{job['id']}/events", headers=alice())
        # The training itself stopped at its next epoch: its process is free, not killed.
        assert training.worker.pool.busy == 0
        assert training.worker.pool.pids() == [pid]
    assert done["status"] == "cancelled"
    assert done["model_id"] is None and done["finished_at"] is not None
    assert parse_sse(events.text)[-1]["event"] == "status"


async def test_a_job_over_the_run_time_limit_fails_and_a_concurrent_job_finishes(
    downstream: Downstream, tmp_path: Path
) -> None:
    version = await downstream.datasets.upload_csv(ALICE, people_csv(rows=400))
    async with replica(
        downstream,
        tmp_path / "training",
        concurrency=2,
        max_run_time_s=3,
        lease_s=10,  # a late heartbeat on a busy machine is not what this test is about
        heartbeat_s=0.5,
    ) as training:
        await training.worker.pool.warm()  # both processes loaded, so only training is timed
        endless = await create_job(
            training.http,
            dataset_id=version["dataset_id"],
            target="bought",
            model="mlp",
            hyperparameters=SLOW_MLP,
            model_name="endless",
        )
        await _training_pids(training.worker, endless["id"])
        # A job's limit is the one in force when it starts: the next job gets ten minutes, so
        # it is still training when the first one's 3 s run out (its epochs take about three
        # times that here), and can only end by finishing.
        training.worker.settings.max_run_time_s = 600
        epochs = 200
        other = await create_job(
            training.http,
            dataset_id=version["dataset_id"],
            target="bought",
            model="mlp",
            hyperparameters={**SLOW_MLP, "epochs": epochs},
            model_name="other",
        )

        failed = await wait_until(training.http, endless["id"], "failed", "succeeded")
        alongside = await get_job(training.http, other["id"])
        done = await wait_until(training.http, other["id"], "succeeded", "failed", "cancelled")
        other_events = await _events_of(training.worker.db, other["id"])
        async with training.worker.db.session() as session:
            attempts = await session.scalar(
                sa.select(Job.attempts).where(Job.id == uuid.UUID(other["id"]))
            )

    assert failed["status"] == "failed"
    assert failed["error"].startswith("training took longer than the limit of 3 seconds")
    assert "fewer epochs" in failed["error"]
    # The other job was training when the limit stopped the first, and was left to finish.
    assert alongside["status"] == "running"
    assert done["status"] == "succeeded", done["error"]
    assert [seq for seq, _ in other_events] == list(range(1, epochs + 1))
    assert {attempt for _, attempt in other_events} == {1}
    assert attempts == 1  # never interrupted and retried


_POOL_SCRIPT = """
import asyncio, pathlib, sys
from services.training.training_pool import TrainingPool

async def main():
    pool = TrainingPool(slots=1, threads=1)
    await pool.warm()
    pathlib.Path(sys.argv[1]).write_text(" ".join(map(str, pool.pids())))
    await asyncio.sleep(120)

asyncio.run(main())
"""


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process state in /proc")
async def test_training_processes_die_with_a_service_killed_by_sigkill(tmp_path: Path) -> None:
    pids_file = tmp_path / "pids"
    # No pipes: a process left behind would hold them open, and the wait below with them.
    service = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _POOL_SCRIPT, str(pids_file), stdout=asyncio.subprocess.DEVNULL
    )
    try:
        async with asyncio.timeout(90):
            while not pids_file.exists() or not pids_file.read_text():
                await asyncio.sleep(0.05)
        (pid,) = [int(word) for word in pids_file.read_text().split()]
        assert _alive(pid)
    finally:
        service.kill()
        await service.wait()

    # No one may be left waiting on a queue whose service is gone, holding its memory.
    try:
        async with asyncio.timeout(10):
            while _alive(pid):
                await asyncio.sleep(0.05)
    finally:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)  # the test failed: leave no process behind either way


def _alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie waiting for its reaper does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
