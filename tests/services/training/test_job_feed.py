"""Jobs in the change feed: one entry per job, its latest contract, moved by each change its
owner sees and by nothing else; on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.datasets.app import create_app as create_datasets_app
from services.datasets.settings import DatasetsSettings
from services.kit.clock import utc_now
from services.kit.database import Database
from services.training import job_queue
from services.training.app import create_app
from services.training.progress import MILESTONES, ProgressMilestones
from services.training.tables import Job
from tests.support.apps import running_app, service_headers
from tests.support.servers import serve_app
from tests.support.settings import make_settings
from tests.support.training_setup import ALICE, BOB, DatasetsApi, people_csv, training_settings

WORKER = "worker-a"
STEP = {"epoch": 1.0, "loss": 0.5, "val_loss": 0.6, "metric": 0.8, "val_metric": 0.7}


@dataclass
class Jobs:
    client: httpx.AsyncClient
    db: Database
    dataset_id: str

    async def create(self, user: str = ALICE) -> dict[str, Any]:
        response = await self.client.post(
            "/internal/v1/jobs",
            json={"dataset_id": self.dataset_id, "target": "bought"},
            headers=service_headers("training", user),
        )
        assert response.status_code == 201, response.text
        job: dict[str, Any] = response.json()
        return job

    async def claim(self, job_id: str, max_attempts: int) -> Job:
        """The job as WORKER claims it (it is the next due)."""
        claimed = await job_queue.claim_next(self.db, WORKER, lease_s=30, max_attempts=max_attempts)
        assert claimed is not None and str(claimed.id) == job_id
        return claimed

    async def get(self, path: str, user: str = ALICE) -> httpx.Response:
        return await self.client.get(
            f"/internal/v1{path}", headers=service_headers("training", user)
        )

    async def feed(self, user: str = ALICE, since: int = 0) -> dict[str, Any]:
        response = await self.client.get(
            "/internal/v1/feed", params={"since": since}, headers=service_headers("training", user)
        )
        assert response.status_code == 200, response.text
        page: dict[str, Any] = response.json()
        return page


@pytest.fixture
async def jobs(tmp_path: Path, database_url: str) -> AsyncIterator[Jobs]:
    datasets_settings = make_settings(DatasetsSettings, tmp_path / "datasets", log_json=False)
    async with serve_app(create_datasets_app(datasets_settings)) as datasets_url:
        people = await DatasetsApi(datasets_url).upload_csv(ALICE, people_csv())
        settings = training_settings(
            tmp_path / "training", datasets_url=datasets_url, database_url=database_url
        )
        app = create_app(settings)
        async with running_app(app) as client:
            yield Jobs(client, app.state.runtime.db, people["dataset_id"])


def entries(page: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    return [(e["kind"], e["id"], e["op"], e["data"]["status"]) for e in page["entries"]]


async def test_a_job_is_one_entry_with_its_latest_state_through_to_its_results(
    jobs: Jobs,
) -> None:
    job = await jobs.create()
    created = await jobs.feed()
    assert entries(created) == [("training_job", job["id"], "upsert", "queued")]
    assert created["entries"][0]["data"] == job

    claimed = await jobs.claim(job["id"], max_attempts=2)
    running = await jobs.feed(since=created["last_seq"])
    assert entries(running) == [("training_job", job["id"], "upsert", "running")]

    model_id = uuid.uuid4()
    result = {"train_rows": 32, "validation_rows": 8, "classes": ["no", "yes"]}
    assert await job_queue.finish(
        jobs.db,
        claimed.id,
        WORKER,
        "succeeded",
        metrics={"accuracy": 0.9},
        model_id=model_id,
        model_version=1,
        result=result,
    )

    feed = await jobs.feed()
    assert entries(feed) == [("training_job", job["id"], "upsert", "succeeded")]
    finished = feed["entries"][0]["data"]
    assert finished["result"] == result and finished["metrics"] == {"accuracy": 0.9}
    assert finished["model_id"] == str(model_id) and finished["model_version"] == 1
    assert finished == (await jobs.get(f"/jobs/{job['id']}")).json()
    assert feed["last_seq"] == feed["entries"][0]["seq"] == 3  # created, running, finished
    assert (await jobs.feed(BOB))["entries"] == []  # one user never sees another's jobs
    listed = await jobs.get("/jobs")
    assert listed.headers["x-tern-version"] == "3"


async def test_a_cancel_is_recorded_when_the_job_changes_and_not_before(jobs: Jobs) -> None:
    running, queued = await jobs.create(), await jobs.create()  # the oldest is claimed
    assert await job_queue.claim_next(jobs.db, WORKER, lease_s=30, max_attempts=2) is not None
    before = await jobs.feed()

    cancelled = await jobs.client.post(
        f"/internal/v1/jobs/{running['id']}/cancel", headers=service_headers("training", ALICE)
    )  # running: its worker is asked to stop, which its owner does not see yet
    assert cancelled.json()["status"] == "running"
    assert (await jobs.feed())["last_seq"] == before["last_seq"]
    await jobs.client.post(
        f"/internal/v1/jobs/{queued['id']}/cancel", headers=service_headers("training", ALICE)
    )
    assert await job_queue.finish(jobs.db, uuid.UUID(running["id"]), WORKER, "cancelled")

    after = await jobs.feed(since=before["last_seq"])
    assert entries(after) == [
        ("training_job", queued["id"], "upsert", "cancelled"),
        ("training_job", running["id"], "upsert", "cancelled"),
    ]


async def test_leases_and_plain_progress_leave_the_feed_alone_and_milestones_move_it(
    jobs: Jobs,
) -> None:
    job = await jobs.create()
    claimed = await jobs.claim(job["id"], max_attempts=3)
    start = (await jobs.feed())["last_seq"]

    await job_queue.renew_lease(jobs.db, claimed.id, WORKER, lease_s=30)
    assert await job_queue.append_events(jobs.db, claimed.id, WORKER, 1, [STEP])
    later = utc_now() + timedelta(seconds=31)  # the lease ran out: claimed again, unchanged
    again = await job_queue.claim_next(jobs.db, "worker-b", lease_s=30, max_attempts=3, now=later)
    assert again is not None and again.attempts == 2
    assert (await jobs.feed())["last_seq"] == start

    assert await job_queue.append_events(jobs.db, claimed.id, "worker-b", 2, [STEP], milestone=True)
    moved = await jobs.feed(since=start)
    assert entries(moved) == [("training_job", job["id"], "upsert", "running")]
    assert moved["last_seq"] == start + 1


def test_milestones_are_each_tenth_of_the_run_once() -> None:
    now = [0.0]
    milestones = ProgressMilestones(clock=lambda: now[0])
    total_s, epochs = 100.0, 1000
    reached = []
    for epoch in range(1, epochs + 1):
        now[0] = total_s * epoch / epochs
        step = {**STEP, "epoch": float(epoch), "eta_s": total_s - now[0]}
        if milestones.reached([step]):
            reached.append(epoch)

    assert len(reached) == MILESTONES - 1  # the tenth is the job's finish
    assert reached == [100 * n for n in range(1, MILESTONES)]
    assert not ProgressMilestones().reached([{**STEP, "eta_s": None}])


async def test_a_job_succeeds_before_its_report_and_the_report_moves_its_entry(
    jobs: Jobs,
) -> None:
    job = await jobs.create()
    claimed = await jobs.claim(job["id"], max_attempts=2)
    facts = {"train_rows": 32, "validation_rows": 8, "history": [STEP]}
    assert await job_queue.finish(
        jobs.db,
        claimed.id,
        WORKER,
        "succeeded",
        metrics={"accuracy": 0.9},
        model_id=uuid.uuid4(),
        model_version=1,
        result=facts,
        report_lease_s=30,
    )
    succeeded = (await jobs.feed())["entries"][0]
    assert succeeded["data"]["status"] == "succeeded"
    assert succeeded["data"]["report_ready_at"] is None and succeeded["data"]["result"] == facts
    # The report's lease is renewed like a training's; nobody else may claim the job meanwhile.
    state = await job_queue.renew_lease(jobs.db, claimed.id, WORKER, lease_s=30)
    assert state.held
    assert await job_queue.claim_next(jobs.db, "worker-b", lease_s=30, max_attempts=2) is None
    assert not await job_queue.add_report(jobs.db, claimed.id, "worker-b", {"x": 1})
    png = await jobs.get(f"/jobs/{job['id']}/report.png")
    assert png.status_code == 409 and png.json()["error"]["action"] == "retry"

    report = {"confusion_matrix": {"labels": ["no", "yes"], "matrix": [[3, 1], [0, 4]]}}
    assert await job_queue.add_report(jobs.db, claimed.id, WORKER, report)

    moved = await jobs.feed(since=succeeded["seq"])
    assert entries(moved) == [("training_job", job["id"], "upsert", "succeeded")]
    ready = moved["entries"][0]["data"]
    assert ready["result"] == {**facts, **report}
    assert ready["report_ready_at"] is not None
    assert ready["report_ready_at"] >= ready["finished_at"]
    assert ready == (await jobs.get(f"/jobs/{job['id']}")).json()
    listed = (await jobs.get("/jobs")).json()["items"][0]
    assert listed["report_ready_at"] == ready["report_ready_at"] and listed["result"] is None
    # Stored once: the lease went with it.
    assert not await job_queue.add_report(jobs.db, claimed.id, WORKER, {"x": 1})
    assert not (await job_queue.renew_lease(jobs.db, claimed.id, WORKER, lease_s=30)).held


async def test_a_report_lost_with_its_worker_is_claimed_again_then_given_up_aloud(
    jobs: Jobs,
) -> None:
    job = await jobs.create()
    claimed = await jobs.claim(job["id"], max_attempts=1)
    assert await job_queue.finish(
        jobs.db, claimed.id, WORKER, "succeeded", result={"history": []}, report_lease_s=30
    )
    later = utc_now() + timedelta(seconds=31)  # the worker died: its lease ran out

    again = await job_queue.claim_next(jobs.db, "worker-b", lease_s=30, max_attempts=1, now=later)
    assert again is not None and str(again.id) == job["id"]
    assert again.status == "succeeded" and again.lease_owner == "worker-b"
    before = (await jobs.feed())["last_seq"]
    for attempt in range(job_queue.REPORT_ATTEMPTS - 1):  # each claimer dies in turn
        later += timedelta(seconds=31)
        claimer = f"worker-{attempt}"
        taken = await job_queue.claim_next(jobs.db, claimer, lease_s=30, max_attempts=1, now=later)
        assert taken is not None and taken.lease_owner == claimer
    assert (await jobs.feed())["last_seq"] == before  # report claims are not the owner's news

    later += timedelta(seconds=31)
    assert (
        await job_queue.claim_next(jobs.db, "worker-z", lease_s=30, max_attempts=1, now=later)
        is None
    )
    given_up = (await jobs.get(f"/jobs/{job['id']}")).json()
    assert given_up["status"] == "succeeded"
    assert given_up["result"]["report_error"] == job_queue.REPORT_FAILED
    assert given_up["report_ready_at"] is not None
    assert (await jobs.feed(since=before))["entries"][0]["data"] == given_up
