"""The job endpoints, checked against the real datasets service on a loopback port."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.datasets.app import create_app as create_datasets_app
from services.datasets.settings import DatasetsSettings
from services.training import job_queue
from services.training.app import create_app
from tests.support.apps import running_app, service_headers
from tests.support.servers import serve_app
from tests.support.settings import make_settings
from tests.support.training_setup import ALICE, BOB, DatasetsApi, people_csv, training_settings


@dataclass
class TrainingApi:
    client: httpx.AsyncClient
    app: Any

    async def create(self, user: str = ALICE, **body: Any) -> httpx.Response:
        return await self.client.post(
            "/internal/v1/jobs", json=body, headers=service_headers("training", user)
        )

    async def get(self, path: str, user: str = ALICE, **params: Any) -> httpx.Response:
        return await self.client.get(
            f"/internal/v1{path}", headers=service_headers("training", user), params=params
        )

    async def cancel(self, job_id: str, user: str = ALICE) -> httpx.Response:
        return await self.client.post(
            f"/internal/v1/jobs/{job_id}/cancel", headers=service_headers("training", user)
        )


@pytest.fixture
async def datasets(tmp_path: Path) -> AsyncIterator[DatasetsApi]:
    settings = make_settings(DatasetsSettings, tmp_path / "datasets", log_json=False)
    async with serve_app(create_datasets_app(settings)) as base_url:
        yield DatasetsApi(base_url)


@pytest.fixture
async def api(tmp_path: Path, datasets: DatasetsApi) -> AsyncIterator[TrainingApi]:
    settings = training_settings(tmp_path / "training", datasets_url=datasets.base_url)
    app = create_app(settings)
    async with running_app(app) as client:
        yield TrainingApi(client, app)


@pytest.fixture
async def people(datasets: DatasetsApi) -> dict[str, Any]:
    return await datasets.upload_csv(ALICE, people_csv())


def error_of(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    return error


async def test_a_job_is_queued_with_defaults_filled_in(
    api: TrainingApi, people: dict[str, Any]
) -> None:
    response = await api.create(dataset_id=people["dataset_id"], target="bought")

    assert response.status_code == 201, response.text
    job = response.json()
    assert job["status"] == "queued"
    assert job["owner_id"] == ALICE
    assert job["dataset_version"] == people["version"]
    assert job["task"] == "classification"
    assert job["model"] == "logistic_regression"
    assert job["model_name"] == "bought (logistic_regression)"
    assert job["features"] == ["age", "city", "member", "spend", "constant"]
    assert job["metrics"] is None and job["model_id"] is None
    fetched = await api.get(f"/jobs/{job['id']}")
    assert fetched.json() == job


async def test_a_numeric_target_with_many_values_is_regression_with_a_regression_model(
    api: TrainingApi, people: dict[str, Any]
) -> None:
    response = await api.create(
        dataset_id=people["dataset_id"], target="spend", features=["age", "city"]
    )

    assert response.status_code == 201, response.text
    assert response.json()["task"] == "regression"
    assert response.json()["model"] == "linear_regression"


@pytest.mark.parametrize(
    ("body", "code", "named"),
    [
        ({"target": "nope"}, "UNKNOWN_COLUMNS", "'nope'"),
        ({"target": "bought", "features": ["age", "ghost"]}, "UNKNOWN_COLUMNS", "'ghost'"),
        ({"target": "city", "task": "regression"}, "TARGET_NOT_NUMERIC", "'city'"),
        ({"target": "constant"}, "SINGLE_CLASS_TARGET", "'constant'"),
        (
            {"target": "spend", "task": "regression", "model": "logistic_regression"},
            "MODEL_TASK_MISMATCH",
            "logistic_regression",
        ),
        (
            {"target": "bought", "model": "linear_regression"},
            "MODEL_TASK_MISMATCH",
            "linear_regression",
        ),
        (
            {"target": "bought", "model": "mlp", "hyperparameters": {"hidden_layers": [0]}},
            "INVALID_HYPERPARAMETERS",
            "hidden_layers",
        ),
        (
            {"target": "bought", "hyperparameters": {"C": -1}},
            "INVALID_HYPERPARAMETERS",
            "C",
        ),
        (
            {"target": "bought", "hyperparameters": {"n_jobs": 64}},
            "INVALID_HYPERPARAMETERS",
            "n_jobs",
        ),
        ({"target": "bought", "features": ["bought"]}, "TARGET_IN_FEATURES", "'bought'"),
    ],
)
async def test_bad_requests_are_refused_before_queueing(
    api: TrainingApi, people: dict[str, Any], body: dict[str, Any], code: str, named: str
) -> None:
    response = await api.create(dataset_id=people["dataset_id"], **body)

    assert response.status_code == 422, response.text
    assert error_of(response)["code"] == code
    assert named in error_of(response)["message"]
    listed = await api.get("/jobs")
    assert listed.json()["items"] == []


async def test_unknown_columns_are_all_named(api: TrainingApi, people: dict[str, Any]) -> None:
    response = await api.create(
        dataset_id=people["dataset_id"], target="ghost", features=["age", "phantom"]
    )

    assert error_of(response)["details"]["columns"] == ["ghost", "phantom"]


async def test_too_few_rows_is_refused(api: TrainingApi, datasets: DatasetsApi) -> None:
    tiny = await datasets.upload_csv(ALICE, people_csv(rows=6))

    response = await api.create(dataset_id=tiny["dataset_id"], target="bought")

    assert response.status_code == 422
    assert error_of(response)["code"] == "TOO_FEW_ROWS"
    assert "6 rows" in error_of(response)["message"]


async def test_a_target_that_is_mostly_empty_is_refused_before_queueing(
    api: TrainingApi, datasets: DatasetsApi
) -> None:
    # 40 rows, but only 6 of them say what the model should learn.
    csv = "size,label\n" + "".join(
        f"{i},{('yes', 'no')[i % 2] if i < 6 else ''}\n" for i in range(40)
    )
    sparse = await datasets.upload_csv(ALICE, csv)

    response = await api.create(dataset_id=sparse["dataset_id"], target="label")

    assert response.status_code == 422, response.text
    error = error_of(response)
    assert error["code"] == "TOO_FEW_ROWS"
    assert error["message"] == (
        "only 6 of the dataset's 40 rows have a value in the target 'label'; "
        "training needs at least 10"
    )
    assert error["details"] == {"rows": 40, "labelled_rows": 6, "minimum": 10}
    assert (await api.get("/jobs")).json()["items"] == []


async def test_an_explicit_version_is_used_and_a_missing_one_passes_the_404_through(
    api: TrainingApi, people: dict[str, Any]
) -> None:
    ok = await api.create(dataset_id=people["dataset_id"], dataset_version=1, target="bought")
    missing = await api.create(dataset_id=people["dataset_id"], dataset_version=9, target="bought")

    assert ok.status_code == 201 and ok.json()["dataset_version"] == 1
    assert missing.status_code == 404


async def test_another_users_dataset_is_not_found(api: TrainingApi, people: dict[str, Any]) -> None:
    response = await api.create(BOB, dataset_id=people["dataset_id"], target="bought")

    assert response.status_code == 404
    assert error_of(response)["code"].endswith("NOT_FOUND")


async def test_jobs_list_newest_first_page_by_page_and_only_the_owners(
    api: TrainingApi, people: dict[str, Any]
) -> None:
    created = []
    for _ in range(3):
        response = await api.create(dataset_id=people["dataset_id"], target="bought")
        created.append(response.json()["id"])

    first = (await api.get("/jobs", limit=2)).json()
    second = (await api.get("/jobs", limit=2, cursor=first["next_cursor"])).json()

    assert [j["id"] for j in first["items"] + second["items"]] == created[::-1]
    assert second["next_cursor"] is None
    assert (await api.get("/jobs", BOB)).json()["items"] == []
    assert (await api.get(f"/jobs/{created[0]}", BOB)).status_code == 404
    assert (await api.cancel(created[0], BOB)).status_code == 404
    assert (await api.get("/jobs", cursor="not-a-cursor")).status_code == 400
    too_long = await api.get("/jobs", cursor="x" * 1025)
    assert (too_long.status_code, too_long.json()["error"]["code"]) == (422, "VALIDATION_FAILED")


async def test_cancel_a_queued_job_at_once_and_a_finished_one_is_a_conflict(
    api: TrainingApi, people: dict[str, Any]
) -> None:
    job = (await api.create(dataset_id=people["dataset_id"], target="bought")).json()

    cancelled = await api.cancel(job["id"])
    again = await api.cancel(job["id"])

    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["finished_at"] is not None
    assert again.status_code == 409
    assert error_of(again)["code"] == "JOB_FINISHED"


async def test_cancel_a_running_job_asks_its_worker_to_stop(
    api: TrainingApi, people: dict[str, Any]
) -> None:
    job = (await api.create(dataset_id=people["dataset_id"], target="bought")).json()
    db = api.app.state.runtime.db
    claimed = await job_queue.claim_next(db, "worker-a", lease_s=30, max_attempts=2)
    assert claimed is not None

    response = await api.cancel(job["id"])

    assert response.status_code == 200
    assert response.json()["status"] == "running"
    state = await job_queue.renew_lease(db, uuid.UUID(job["id"]), "worker-a", lease_s=30)
    assert state.cancel_requested


async def test_every_route_needs_a_service_token_for_training(api: TrainingApi) -> None:
    no_token = await api.client.get("/internal/v1/jobs")
    wrong_audience = await api.client.get(
        "/internal/v1/jobs", headers=service_headers("datasets", ALICE)
    )

    assert no_token.status_code == 401
    assert wrong_audience.status_code == 403
