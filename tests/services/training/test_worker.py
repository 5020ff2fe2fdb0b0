"""The worker end to end on our side: a queued job becomes a registered model and a push.

The datasets, inference and notifications services are the real apps on loopback ports.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from sklearn.model_selection import train_test_split

from services.datasets.app import create_app as create_datasets_app
from services.datasets.settings import DatasetsSettings
from services.inference.app import create_app as create_inference_app
from services.inference.settings import InferenceSettings
from services.notifications.app import create_app as create_notifications_app
from services.notifications.settings import NotificationsSettings
from services.training.app import create_app
from tests.support.apps import running_app, service_headers
from tests.support.polling import eventually
from tests.support.servers import free_port, serve_app
from tests.support.settings import make_settings
from tests.support.training_setup import ALICE, DatasetsApi, people_csv, training_settings


@dataclass
class Services:
    datasets: DatasetsApi
    training: httpx.AsyncClient
    inference_url: str
    notifications_url: str

    async def create_job(self, **body: Any) -> dict[str, Any]:
        response = await self.training.post(
            "/internal/v1/jobs", json=body, headers=service_headers("training", ALICE)
        )
        assert response.status_code == 201, response.text
        job: dict[str, Any] = response.json()
        return job

    async def wait_finished(self, job_id: str, timeout_s: float = 90) -> dict[str, Any]:
        async with asyncio.timeout(timeout_s):
            while True:
                response = await self.training.get(
                    f"/internal/v1/jobs/{job_id}", headers=service_headers("training", ALICE)
                )
                job: dict[str, Any] = response.json()
                if job["status"] not in ("queued", "running"):
                    return job
                await asyncio.sleep(0.2)

    async def call(self, service: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        base = self.inference_url if service == "inference" else self.notifications_url
        async with httpx.AsyncClient(base_url=base + "/internal/v1") as client:
            return await client.request(
                method, path, headers=service_headers(service, ALICE), **kwargs
            )


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[Services]:
    datasets_app = create_datasets_app(
        make_settings(DatasetsSettings, tmp_path / "datasets", log_json=False)
    )
    inference_app = create_inference_app(
        make_settings(InferenceSettings, tmp_path / "inference", log_json=False)
    )
    notifications_app = create_notifications_app(
        make_settings(
            NotificationsSettings,
            tmp_path / "notifications",
            log_json=False,
            fcm_enabled=False,
            apns_enabled=False,
        )
    )
    async with (
        serve_app(datasets_app) as datasets_url,
        serve_app(inference_app) as inference_url,
        serve_app(notifications_app) as notifications_url,
    ):
        settings = training_settings(
            tmp_path / "training",
            worker_enabled=True,
            datasets_url=datasets_url,
            inference_url=inference_url,
            notifications_url=notifications_url,
            poll_interval_s=0.2,
            heartbeat_s=0.5,
            lease_s=10,
        )
        async with running_app(create_app(settings)) as training:
            yield Services(DatasetsApi(datasets_url), training, inference_url, notifications_url)


async def test_a_queued_job_becomes_a_registered_model_and_a_model_ready_push(
    services: Services,
) -> None:
    version = await services.datasets.upload_csv(ALICE, people_csv(rows=60))
    job = await services.create_job(
        dataset_id=version["dataset_id"], target="bought", seed=7, validation_split=0.25
    )

    done = await services.wait_finished(job["id"])

    assert done["status"] == "succeeded", done["error"]
    assert done["error"] is None
    assert {"accuracy", "f1"} <= set(done["metrics"])
    assert done["model_version"] == 1
    assert done["started_at"] is not None and done["finished_at"] is not None
    model = await services.call("inference", "GET", f"/models/{done['model_id']}")
    assert model.status_code == 200, model.text
    assert model.json()["name"] == "bought (logistic_regression)"
    assert [f["name"] for f in model.json()["features"]] == job["features"]
    # How the version was made is kept with it: data, seed, split and library versions.
    registered = await services.call(
        "inference", "GET", f"/models/{done['model_id']}/versions/{done['model_version']}"
    )
    assert registered.status_code == 200, registered.text
    provenance = registered.json()
    assert provenance["training_job_id"] == job["id"]
    assert provenance["dataset_id"] == version["dataset_id"]
    assert provenance["dataset_version"] == version["version"]
    assert provenance["seed"] == 7
    assert provenance["validation_split"] == 0.25
    assert provenance["library_versions"] == done["result"]["library_versions"]
    assert done["result"]["validation_rows"] == 15  # a quarter of the 60 rows
    row = {"age": 52, "city": "oslo", "member": "true", "spend": 130.0, "constant": "same"}
    predicted = await services.call(
        "inference", "POST", f"/models/{done['model_id']}/predict", json={"rows": [row]}
    )
    assert predicted.status_code == 200, predicted.text
    assert predicted.json()["predictions"][0]["label"] in {"yes", "no"}
    notification = await _model_ready_push(services)
    assert notification["title"] == "Your model is ready"
    assert notification["data"] == {
        "type": "model_ready",
        "job_id": job["id"],
        "model_id": done["model_id"],
        "model_version": "1",
    }


def _seed_holding_out(row: int, rows: int, validation_split: float) -> int:
    """A seed whose (unstratified) split puts `row` in the validation rows."""
    for seed in range(100):
        _, held_out = train_test_split(
            np.arange(rows), test_size=validation_split, random_state=seed
        )
        if row in held_out:
            return seed
    raise AssertionError("no such seed")


async def test_a_training_problem_fails_the_job_with_a_message_its_owner_can_act_on(
    services: Services,
) -> None:
    rows = 12
    csv = "size,label\n" + "".join(
        f"{i},{'rare' if i == rows - 1 else 'common'}\n" for i in range(rows)
    )
    version = await services.datasets.upload_csv(ALICE, csv)
    seed = _seed_holding_out(rows - 1, rows, 0.2)

    job = await services.create_job(dataset_id=version["dataset_id"], target="label", seed=seed)
    done = await services.wait_finished(job["id"])

    assert done["status"] == "failed"
    assert done["error"] == "target column 'label' has only one class in the training split"
    assert done["model_id"] is None


async def _model_ready_push(services: Services) -> dict[str, Any]:
    """The owner's one inbox entry, once the push outbox has sent it."""

    async def arrived() -> bool:
        inbox = await services.call("notifications", "GET", "/notifications")
        return inbox.status_code == 200 and len(inbox.json()["items"]) > 0

    await eventually(arrived, timeout_s=10)
    (notification,) = (await services.call("notifications", "GET", "/notifications")).json()[
        "items"
    ]
    return notification


async def test_a_job_that_finishes_while_notifications_is_down_pushes_once_it_is_back(
    tmp_path: Path,
) -> None:
    datasets_app = create_datasets_app(
        make_settings(DatasetsSettings, tmp_path / "datasets", log_json=False)
    )
    inference_app = create_inference_app(
        make_settings(InferenceSettings, tmp_path / "inference", log_json=False)
    )
    notifications_port = free_port()  # nothing listens there until the job is done
    async with serve_app(datasets_app) as datasets_url, serve_app(inference_app) as inference_url:
        notifications_url = f"http://127.0.0.1:{notifications_port}"
        settings = training_settings(
            tmp_path / "training",
            worker_enabled=True,
            datasets_url=datasets_url,
            inference_url=inference_url,
            notifications_url=notifications_url,
            poll_interval_s=0.2,
            heartbeat_s=0.5,
            lease_s=10,
        )
        async with running_app(create_app(settings)) as training:
            services = Services(
                DatasetsApi(datasets_url), training, inference_url, notifications_url
            )
            version = await services.datasets.upload_csv(ALICE, people_csv(rows=60))
            job = await services.create_job(dataset_id=version["dataset_id"], target="bought")
            assert (await services.wait_finished(job["id"]))["status"] == "succeeded"

            notifications_app = create_notifications_app(
                make_settings(
                    NotificationsSettings,
                    tmp_path / "notifications",
                    log_json=False,
                    fcm_enabled=False,
                    apns_enabled=False,
                )
            )
            async with serve_app(notifications_app, port=notifications_port):
                notification = await _model_ready_push(services)
                await asyncio.sleep(1.0)  # another round of the outbox sends nothing twice
                inbox = await services.call("notifications", "GET", "/notifications")

    assert notification["data"]["job_id"] == job["id"]
    assert len(inbox.json()["items"]) == 1
