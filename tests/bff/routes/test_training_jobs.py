"""Training job progress and reports through the BFF: SSE relayed as is, resumable, owner-only."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bff.app import create_app
from services.kit.database import Database
from services.training.app import create_app as create_training_app
from services.training.job_queue import utcnow
from services.training.tables import JobEvent
from tests.bff.conftest import bearer, bff_settings, sign_up
from tests.services.training.conftest import new_job, training_settings
from tests.support.apps import running_app
from tests.support.servers import serve_app


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Database]]:
    """The BFF in-process in front of a real training service, and that service's database."""
    settings = training_settings(tmp_path / "training", events_poll_s=0.05)
    async with serve_app(create_training_app(settings)) as training_url:
        database = Database(settings.sqlalchemy_url)
        async with running_app(
            create_app(bff_settings(tmp_path / "bff", training_url=training_url))
        ) as client:
            yield client, database
        await database.dispose()


async def add_finished_job(db: Database, owner: str) -> uuid.UUID:
    step = {"epoch": 1.0, "loss": 0.7, "val_loss": 0.8, "metric": 0.5, "val_metric": 0.4}
    result: dict[str, Any] = {
        "history": [{**step, "epoch": float(i)} for i in (1, 2, 3)],
        "confusion_matrix": {"labels": ["no", "yes"], "matrix": [[3, 1], [0, 4]]},
    }
    job = new_job(owner_id=owner, status="succeeded", finished_at=utcnow(), result=result)
    async with db.transaction() as session:
        session.add(job)
        await session.flush()
        for seq in (1, 2, 3):
            session.add(JobEvent(job_id=job.id, seq=seq, attempt=1, data=step, created_at=utcnow()))
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
