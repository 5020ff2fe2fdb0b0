"""Idempotency-Key on the public REST API: a retried POST /api/v1/training-jobs starts one job.

The BFF serves in front of the real training and datasets services, all on loopback."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from bff.app import create_app
from bff.compact.representation import COMPACT_MEDIA_TYPE
from services.datasets.app import create_app as create_datasets_app
from services.datasets.settings import DatasetsSettings
from services.training.app import create_app as create_training_app
from tests.support.bff_accounts import bearer, bff_settings, sign_up
from tests.support.servers import free_port, serve_app
from tests.support.settings import make_settings
from tests.support.training_setup import DatasetsApi, people_csv, training_settings

JOBS = "/api/v1/training-jobs"
ERROR_FIELDS = {"code", "message", "user_message", "action", "retry"}


@dataclass
class Phone:
    """A signed-in user with a dataset, calling the BFF."""

    client: httpx.AsyncClient
    headers: dict[str, str]
    dataset_id: str

    def job(self, **extra: Any) -> dict[str, Any]:
        return {"dataset_id": self.dataset_id, "target": "bought", **extra}

    async def start_job(self, key: str | bytes | None, **extra: Any) -> httpx.Response:
        headers = dict(self.headers)
        if key is not None:
            headers["Idempotency-Key"] = key  # type: ignore[assignment]
        return await self.client.post(JOBS, json=self.job(**extra), headers=headers)

    async def job_ids(self) -> list[str]:
        listed = await self.client.get(JOBS, headers=self.headers)
        assert listed.status_code == 200, listed.text
        return [job["id"] for job in listed.json()["items"]]


@dataclass
class Stack:
    client: httpx.AsyncClient
    datasets: DatasetsApi

    async def phone(self, email: str = "ada@example.com") -> Phone:
        tokens = await sign_up(self.client, email)
        version = await self.datasets.upload_csv(tokens["user"]["id"], people_csv())
        return Phone(self.client, bearer(tokens), version["dataset_id"])


@contextlib.asynccontextmanager
async def serving_stack(tmp_path: Path, training_port: int | None = None) -> AsyncIterator[Stack]:
    """Datasets and the BFF; training too, unless only its port is given (started later)."""
    datasets_settings = make_settings(DatasetsSettings, tmp_path / "datasets", log_json=False)
    async with contextlib.AsyncExitStack() as stack:
        datasets_url = await stack.enter_async_context(
            serve_app(create_datasets_app(datasets_settings))
        )
        if training_port is None:
            training = training_settings(tmp_path / "training", datasets_url=datasets_url)
            training_url = await stack.enter_async_context(serve_app(create_training_app(training)))
        else:
            training_url = f"http://127.0.0.1:{training_port}"
        bff = create_app(
            bff_settings(
                tmp_path / "bff",
                training_url=training_url,
                datasets_url=datasets_url,
                compress_min_bytes=0,
            )
        )
        bff_url = await stack.enter_async_context(serve_app(bff))
        client = await stack.enter_async_context(httpx.AsyncClient(base_url=bff_url, timeout=10))
        yield Stack(client, DatasetsApi(datasets_url))


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with serving_stack(tmp_path) as running:
        yield running


@pytest.fixture
async def ada(stack: Stack) -> Phone:
    return await stack.phone()


def error_of(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    assert ERROR_FIELDS <= error.keys()
    return error


async def test_a_retry_with_the_same_key_starts_one_job_and_answers_the_first_answer(
    ada: Phone,
) -> None:
    first = await ada.start_job("job-key-1")
    retry = await ada.start_job("job-key-1")

    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    assert retry.status_code == 201
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.json() == first.json()
    assert retry.headers["content-type"] == first.headers["content-type"]
    assert await ada.job_ids() == [first.json()["id"]]


async def test_the_draft_s_quoted_key_is_the_same_key(ada: Phone) -> None:
    first = await ada.start_job("job-key-1")
    retry = await ada.start_job('"job-key-1"')

    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.json() == first.json()


async def test_the_same_key_with_another_body_is_refused(ada: Phone) -> None:
    first = await ada.start_job("job-key-1")

    reused = await ada.start_job("job-key-1", seed=7)

    assert first.status_code == 201
    assert reused.status_code == 422
    error = error_of(reused)
    assert error["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert error["action"] == "fix_input"
    assert await ada.job_ids() == [first.json()["id"]]


async def test_keys_are_per_user(stack: Stack, ada: Phone) -> None:
    bob = await stack.phone("bob@example.com")

    adas = await ada.start_job("shared-key")
    bobs = await bob.start_job("shared-key")

    assert (adas.status_code, bobs.status_code) == (201, 201)
    assert "idempotent-replayed" not in bobs.headers
    assert bobs.json()["id"] != adas.json()["id"]
    assert await ada.job_ids() == [adas.json()["id"]]
    assert await bob.job_ids() == [bobs.json()["id"]]


async def test_without_a_key_each_post_starts_a_job(ada: Phone) -> None:
    first = await ada.start_job(None)
    second = await ada.start_job(None)

    assert (first.status_code, second.status_code) == (201, 201)
    assert sorted(await ada.job_ids()) == sorted([first.json()["id"], second.json()["id"]])


@pytest.mark.parametrize("key", ["k" * 256, '""', "caf\xe9".encode("latin-1")])
async def test_a_key_that_cannot_be_one_is_refused(ada: Phone, key: str | bytes) -> None:
    response = await ada.start_job(key)

    assert response.status_code == 422
    assert error_of(response)["code"] == "INVALID_IDEMPOTENCY_KEY"
    assert await ada.job_ids() == []


async def test_without_a_valid_token_the_key_changes_nothing(ada: Phone) -> None:
    response = await ada.client.post(JOBS, json=ada.job(), headers={"Idempotency-Key": "k" * 300})

    assert response.status_code == 401
    assert error_of(response)["code"] == "AUTH_REQUIRED"


async def test_of_two_racing_retries_one_runs_and_the_other_waits_or_replays(
    ada: Phone,
) -> None:
    answers = await asyncio.gather(ada.start_job("race-key"), ada.start_job("race-key"))

    ran = [a for a in answers if a.status_code == 201 and "idempotent-replayed" not in a.headers]
    assert len(ran) == 1
    (other,) = [a for a in answers if a is not ran[0]]
    if other.status_code == 409:
        assert error_of(other)["code"] == "IDEMPOTENCY_KEY_IN_FLIGHT"
        assert int(other.headers["retry-after"]) >= 1
    else:
        assert other.headers["idempotent-replayed"] == "true"
        assert other.json() == ran[0].json()
    assert await ada.job_ids() == [ran[0].json()["id"]]


async def test_a_replay_is_encoded_for_the_request_that_asks_again(ada: Phone) -> None:
    first = await ada.client.post(
        JOBS,
        json=ada.job(),
        headers={**ada.headers, "Idempotency-Key": "k1", "Accept-Encoding": "identity"},
    )
    gzipped = await ada.client.post(
        JOBS,
        json=ada.job(),
        headers={**ada.headers, "Idempotency-Key": "k1", "Accept-Encoding": "gzip"},
    )
    compact = await ada.client.post(
        JOBS,
        json=ada.job(),
        headers={**ada.headers, "Idempotency-Key": "k1", "Accept": COMPACT_MEDIA_TYPE},
    )
    job = await ada.client.get(
        f"{JOBS}/{first.json()['id']}", headers={**ada.headers, "Accept": COMPACT_MEDIA_TYPE}
    )

    assert "content-encoding" not in first.headers
    assert gzipped.headers["content-encoding"] == "gzip"
    assert gzipped.json() == first.json()
    assert compact.headers["content-type"] == COMPACT_MEDIA_TYPE
    assert compact.json() == job.json()  # the same job in the same compact keys


async def test_a_keyed_batch_runs_its_items_once(ada: Phone) -> None:
    items = [
        {"id": str(seed), "method": "POST", "path": JOBS, "body": ada.job(seed=seed)}
        for seed in (1, 2)
    ]
    headers = {**ada.headers, "Idempotency-Key": "batch-key"}

    first = await ada.client.post("/api/v1/batch", json={"requests": items}, headers=headers)
    retry = await ada.client.post("/api/v1/batch", json={"requests": items}, headers=headers)

    assert first.status_code == 200
    assert [item["status"] for item in first.json()["responses"]] == [201, 201]
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.json() == first.json()
    started = [item["body"]["id"] for item in first.json()["responses"]]
    assert sorted(await ada.job_ids()) == sorted(started)


async def test_a_batch_item_may_carry_a_key_of_its_own(ada: Phone) -> None:
    item = {
        "id": "start",
        "method": "POST",
        "path": JOBS,
        "body": ada.job(),
        "headers": {"Idempotency-Key": "item-key"},
    }

    batches = [
        await ada.client.post("/api/v1/batch", json={"requests": [item]}, headers=ada.headers)
        for _ in range(2)
    ]

    first, retry = (batch.json()["responses"][0] for batch in batches)
    assert first["status"] == retry["status"] == 201
    assert "idempotent-replayed" not in first["headers"]
    assert retry["headers"]["idempotent-replayed"] == "true"
    assert retry["body"] == first["body"]
    assert await ada.job_ids() == [first["body"]["id"]]


async def test_a_failure_of_the_service_is_not_kept_and_the_retry_runs(tmp_path: Path) -> None:
    port = free_port()
    async with serving_stack(tmp_path, training_port=port) as stack:
        ada = await stack.phone()
        down = await ada.start_job("job-key-1")
        assert down.status_code == 503, down.text

        datasets_url = stack.datasets.base_url
        training = training_settings(tmp_path / "training", datasets_url=datasets_url)
        async with serve_app(create_training_app(training), port=port):
            retry = down
            for _ in range(100):  # until the BFF's breaker lets calls through again
                retry = await ada.start_job("job-key-1")
                if retry.status_code != 503:
                    break
                await asyncio.sleep(0.1)
            again = await ada.start_job("job-key-1")

            assert retry.status_code == 201, retry.text
            assert "idempotent-replayed" not in retry.headers
            assert again.headers["idempotent-replayed"] == "true"
            assert await ada.job_ids() == [retry.json()["id"]]
