"""Training jobs through the BFF: cancel, SSE progress relayed live and resumable, reports;
owner-only. The BFF and the training service both serve over loopback, as in production."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from bff.app import create_app
from services.kit.clock import utc_now
from services.kit.database import Database
from services.training import job_queue
from services.training.app import create_app as create_training_app
from services.training.tables import JobEvent
from tests.support.bff_accounts import bearer, bff_settings, sign_up
from tests.support.servers import serve_app
from tests.support.training_setup import new_job, training_settings

WORKER = "worker-under-test"
STEP = {"epoch": 1.0, "loss": 0.7, "val_loss": 0.8, "metric": 0.5, "val_metric": 0.4}


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Database]]:
    """The BFF in front of a real training service, both on loopback, and its database."""
    settings = training_settings(tmp_path / "training", events_poll_s=0.05)
    async with serve_app(create_training_app(settings)) as training_url:
        database = Database(settings.sqlalchemy_url)
        bff = create_app(bff_settings(tmp_path / "bff", training_url=training_url))
        async with (
            serve_app(bff) as bff_url,
            httpx.AsyncClient(base_url=bff_url, timeout=10) as client,
        ):
            yield client, database
        await database.dispose()


async def add_running_job(db: Database, owner: str) -> uuid.UUID:
    """A job as a worker holds it while it trains."""
    job = new_job(
        owner_id=owner,
        status="running",
        attempts=1,
        started_at=utc_now(),
        lease_owner=WORKER,
        lease_expires_at=utc_now() + timedelta(minutes=5),
    )
    async with db.transaction() as session:
        session.add(job)
    return job.id


async def next_event(lines: AsyncIterator[str]) -> dict[str, str]:
    """The next SSE event off a live stream as {id, event, data} (comments skipped)."""
    fields: dict[str, str] = {}
    async with asyncio.timeout(10):
        async for line in lines:
            if line:
                name, _, value = line.partition(": ")
                if name in ("id", "event", "data"):
                    fields[name] = value
            elif "event" in fields:
                return fields
    raise AssertionError(f"the stream ended before an event came; got {fields}")


async def add_finished_job(db: Database, owner: str) -> uuid.UUID:
    step = {"epoch": 1.0, "loss": 0.7, "val_loss": 0.8, "metric": 0.5, "val_metric": 0.4}
    result: dict[str, Any] = {
        "history": [{**step, "epoch": float(i)} for i in (1, 2, 3)],
        "confusion_matrix": {"labels": ["no", "yes"], "matrix": [[3, 1], [0, 4]]},
    }
    finished = utc_now()
    job = new_job(
        owner_id=owner,
        status="succeeded",
        finished_at=finished,
        result=result,
        report_ready_at=finished,
    )
    async with db.transaction() as session:
        session.add(job)
        await session.flush()
        for seq in (1, 2, 3):
            session.add(
                JobEvent(job_id=job.id, seq=seq, attempt=1, data=step, created_at=utc_now())
            )
    return job.id


async def test_progress_streams_through_from_the_last_event_id(
    stack: tuple[httpx.AsyncClient, Database],
) -> None:
    client, db = stack
    tokens = await sign_up(client)
    job_id = await add_finished_job(db, tokens["user"]["id"])

    response = await client.get(
        f"/api/v1/training-jobs/{job_id}/events",
        headers={**bearer(tokens), "Last-Event-ID": "1"},
    )

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    ids = [line[4:] for line in response.text.splitlines() if line.startswith("id: ")]
    kinds = [line[7:] for line in response.text.splitlines() if line.startswith("event: ")]
    assert ids == ["2", "3", "3"]
    assert kinds == ["progress", "progress", "status"]


async def test_progress_of_a_running_job_is_relayed_as_it_happens(
    stack: tuple[httpx.AsyncClient, Database],
) -> None:
    client, db = stack
    tokens = await sign_up(client)
    job_id = await add_running_job(db, tokens["user"]["id"])
    assert await job_queue.append_events(db, job_id, WORKER, 1, [STEP])

    async with client.stream(
        "GET", f"/api/v1/training-jobs/{job_id}/events", headers=bearer(tokens)
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.aiter_lines()
        first = await next_event(lines)
        assert (first["id"], first["event"]) == ("1", "progress")

        # The worker stores the next epoch while the phone listens: it arrives on the same stream.
        assert await job_queue.append_events(db, job_id, WORKER, 1, [{**STEP, "epoch": 2.0}])
        second = await next_event(lines)
        assert (second["id"], second["event"]) == ("2", "progress")
        assert json.loads(second["data"])["epoch"] == 2.0

        assert await job_queue.finish(db, job_id, WORKER, "succeeded")
        last = await next_event(lines)
        assert last["event"] == "status"
        assert json.loads(last["data"])["status"] == "succeeded"
        assert [line async for line in lines] == []  # and the stream ends


async def test_cancel_through_the_bff_and_only_the_owner_may(
    stack: tuple[httpx.AsyncClient, Database],
) -> None:
    client, db = stack
    owner = await sign_up(client, email="owner@example.com")
    other = await sign_up(client, email="other@example.com", device_id="device-2")
    queued = new_job(owner_id=owner["user"]["id"])
    async with db.transaction() as session:
        session.add(queued)
    running = await add_running_job(db, owner["user"]["id"])

    refused = await client.post(f"/api/v1/training-jobs/{queued.id}/cancel", headers=bearer(other))
    cancelled = await client.post(
        f"/api/v1/training-jobs/{queued.id}/cancel", headers=bearer(owner)
    )
    asked = await client.post(f"/api/v1/training-jobs/{running}/cancel", headers=bearer(owner))

    assert refused.status_code == 404
    assert refused.json()["error"]["code"].endswith("NOT_FOUND")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["finished_at"] is not None
    # A running job is asked to stop; its worker sees the request at its next cancel poll.
    assert asked.status_code == 200, asked.text
    assert asked.json()["status"] == "running"
    assert await job_queue.cancel_requested(db, WORKER, [running]) == {running}
    again = await client.post(f"/api/v1/training-jobs/{queued.id}/cancel", headers=bearer(owner))
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "JOB_FINISHED"


async def test_the_report_is_a_png(stack: tuple[httpx.AsyncClient, Database]) -> None:
    client, db = stack
    tokens = await sign_up(client)
    job_id = await add_finished_job(db, tokens["user"]["id"])

    response = await client.get(
        f"/api/v1/training-jobs/{job_id}/report.png", headers=bearer(tokens)
    )

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    assert response.content.startswith(b"\x89PNG")


async def test_another_users_job_is_not_found_and_anonymous_is_refused(
    stack: tuple[httpx.AsyncClient, Database],
) -> None:
    client, db = stack
    owner = await sign_up(client, email="owner@example.com")
    other = await sign_up(client, email="other@example.com", device_id="device-2")
    job_id = await add_finished_job(db, owner["user"]["id"])

    for path in ("events", "report.png"):
        hidden = await client.get(f"/api/v1/training-jobs/{job_id}/{path}", headers=bearer(other))
        assert hidden.status_code == 404
        anonymous = await client.get(f"/api/v1/training-jobs/{job_id}/{path}")
        assert anonymous.status_code == 401
    anonymous_cancel = await client.post(f"/api/v1/training-jobs/{job_id}/cancel")
    assert anonymous_cancel.status_code == 401
