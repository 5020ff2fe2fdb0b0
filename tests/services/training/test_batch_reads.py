"""Batch reads (the BFF's DataLoaders): several jobs in one call, the acting user's only."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.training.app import create_app
from tests.support.apps import running_app, service_headers
from tests.support.training_setup import ALICE, BOB, new_job, training_settings


@pytest.fixture
def app(tmp_path: Path) -> Any:
    return create_app(training_settings(tmp_path))


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(app) as http:
        yield http


async def test_jobs_come_back_as_lists_show_them_and_others_are_left_out(
    app: Any, client: httpx.AsyncClient
) -> None:
    mine, other_of_mine, bobs = new_job(), new_job(target="kind"), new_job(owner_id=BOB)
    async with app.state.runtime.db.transaction() as session:
        session.add_all([mine, other_of_mine, bobs])
    ids = [str(mine.id), str(bobs.id), str(uuid.uuid4()), str(other_of_mine.id)]

    response = await client.post(
        "/internal/v1/jobs/batch", json={"ids": ids}, headers=service_headers("training", ALICE)
    )

    assert response.status_code == 200, response.text
    found = {job["id"]: job for job in response.json()["items"]}
    assert set(found) == {str(mine.id), str(other_of_mine.id)}
    assert found[str(other_of_mine.id)]["target"] == "kind"
    assert found[str(mine.id)]["result"] is None
    single = await client.get(
        f"/internal/v1/jobs/{mine.id}", headers=service_headers("training", ALICE)
    )
    assert found[str(mine.id)] == single.json()


async def test_more_than_100_ids_are_a_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/internal/v1/jobs/batch",
        json={"ids": [str(uuid.uuid4()) for _ in range(101)]},
        headers=service_headers("training", ALICE),
    )

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "VALIDATION_FAILED"
