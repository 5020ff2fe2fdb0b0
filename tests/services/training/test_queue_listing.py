"""GET /internal/v1/queue: every user's queued and running jobs, oldest first, with counts."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from services.kit.database import Database
from services.training.app import create_app
from services.training.settings import TrainingSettings
from services.training.tables import Job
from tests.support.apps import running_app, service_headers
from tests.support.settings import make_settings


def as_bff() -> dict[str, str]:
    """The BFF's service token, minted when the call is made (a module's constant would
    expire before a long suite reaches it)."""
    return service_headers("training")


_START = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def settings(tmp_path: Path) -> TrainingSettings:
    # No worker: the queue stays as written.
    return make_settings(TrainingSettings, tmp_path, worker_enabled=False)


@pytest.fixture
async def client(settings: TrainingSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(create_app(settings)) as http:
        yield http


async def _jobs(settings: TrainingSettings, *statuses: tuple[str, str]) -> None:
    db = Database(settings.sqlalchemy_url)
    async with db.transaction() as session:
        for minute, (owner, status) in enumerate(statuses):
            session.add(_job(owner, status, _START + timedelta(minutes=minute)))
    await db.dispose()


async def test_the_queue_is_every_users_in_the_order_workers_take_it(
    client: httpx.AsyncClient, settings: TrainingSettings
) -> None:
    await _jobs(
        settings,
        ("alice", "succeeded"),
        ("alice", "running"),
        ("bob", "queued"),
        ("carol", "queued"),
        ("bob", "failed"),
    )

    first = await client.get("/internal/v1/queue?limit=2", headers=as_bff())
    rest = await client.get(
        f"/internal/v1/queue?limit=2&cursor={first.json()['next_cursor']}", headers=as_bff()
    )
    queued = await client.get("/internal/v1/queue?status=queued", headers=as_bff())

    body = first.json()
    assert [(j["owner_id"], j["status"]) for j in body["items"]] == [
        ("alice", "running"),
        ("bob", "queued"),
    ]
    assert (body["queued"], body["running"], body["counts_at_least"]) == (2, 1, False)
    assert [j["owner_id"] for j in rest.json()["items"]] == ["carol"]
    assert rest.json()["next_cursor"] is None
    assert [j["owner_id"] for j in queued.json()["items"]] == ["bob", "carol"]


async def test_bad_input_is_refused(client: httpx.AsyncClient) -> None:
    status = await client.get("/internal/v1/queue?status=succeeded", headers=as_bff())
    limit = await client.get("/internal/v1/queue?limit=100000", headers=as_bff())
    cursor = await client.get("/internal/v1/queue?cursor=nope", headers=as_bff())

    assert status.status_code == limit.status_code == 422
    assert cursor.status_code == 400
    assert cursor.json()["error"]["code"] == "INVALID_CURSOR"


def _job(owner: str, status: str, created_at: datetime) -> Job:
    return Job(
        id=uuid.uuid4(),
        owner_id=owner,
        status=status,
        dataset_id=uuid.uuid4(),
        dataset_version=1,
        target="churned",
        features=["tenure"],
        column_types={"tenure": "integer", "churned": "boolean"},
        task="classification",
        model="logistic_regression",
        model_name="churn",
        hyperparameters={},
        validation_split=0.2,
        seed=0,
        created_at=created_at,
        attempts=0,
        cancel_requested=False,
    )
