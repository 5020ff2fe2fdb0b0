"""Idempotency-Key on GraphQL mutations: a retried mutation answers the first answer and runs
once; queries are not keyed; an answer with errors is not kept."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.bff.graphql.mutation_stack import MAX_DEVICES, Phone, Stack, serving_stack
from tests.support.bff_accounts import bearer, sign_up

CREATE_JOB = """
mutation Start($input: CreateTrainingJobInput!) {
  createTrainingJob(input: $input) { trainingJob { id status } userErrors { code } }
}"""
REGISTER = """
mutation($device: String!) {
  registerPushToken(input: {deviceId: $device, token: $device, platform: "ios"}) {
    device { deviceId } userErrors { code }
  }
}"""


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with serving_stack(tmp_path) as running:
        yield running


@pytest.fixture
async def ada(stack: Stack) -> Phone:
    return await stack.phone()


async def start_job(ada: Phone, dataset_id: str, key: str | None, **extra: Any) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key is not None else {}
    job = {"datasetId": dataset_id, "target": "bought", **extra}
    return await ada.post(CREATE_JOB, {"input": job}, **headers)


async def job_ids(ada: Phone) -> list[str]:
    listed = await ada.client.get("/api/v1/training-jobs", headers=bearer(ada.tokens))
    return [job["id"] for job in listed.json()["items"]]


async def test_a_retried_mutation_answers_the_first_answer_and_starts_one_job(ada: Phone) -> None:
    dataset_id = (await ada.dataset())["dataset_id"]

    first = await start_job(ada, dataset_id, "start-1")
    retry = await start_job(ada, dataset_id, "start-1")

    assert "idempotent-replayed" not in first.headers
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.json() == first.json()
    job = first.json()["data"]["createTrainingJob"]["trainingJob"]
    assert await job_ids(ada) == [job["id"]]


async def test_without_a_key_each_mutation_runs(ada: Phone) -> None:
    dataset_id = (await ada.dataset())["dataset_id"]

    await start_job(ada, dataset_id, None)
    await start_job(ada, dataset_id, None)

    assert len(await job_ids(ada)) == 2


async def test_the_same_key_with_another_mutation_is_refused(ada: Phone) -> None:
    dataset_id = (await ada.dataset())["dataset_id"]
    await start_job(ada, dataset_id, "start-1")

    reused = await start_job(ada, dataset_id, "start-1", seed=7)

    assert reused.status_code == 422
    assert reused.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert len(await job_ids(ada)) == 1


async def test_keys_are_per_user(stack: Stack, ada: Phone) -> None:
    bob = await stack.phone("bob@example.com", "bobs-phone")
    adas = (await ada.dataset())["dataset_id"]
    bobs = (await bob.dataset())["dataset_id"]

    await start_job(ada, adas, "shared")
    answer = await start_job(bob, bobs, "shared")

    assert "idempotent-replayed" not in answer.headers
    assert len(await job_ids(bob)) == 1


async def test_a_user_error_is_kept_like_any_answer(ada: Phone) -> None:
    for n in range(MAX_DEVICES):
        await ada.post(REGISTER, {"device": f"phone-{n:04d}"})

    first = await ada.post(REGISTER, {"device": "one-too-many"}, **{"Idempotency-Key": "reg-1"})
    retry = await ada.post(REGISTER, {"device": "one-too-many"}, **{"Idempotency-Key": "reg-1"})

    assert first.json()["data"]["registerPushToken"]["userErrors"] == [{"code": "TOO_MANY_DEVICES"}]
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.json() == first.json()


async def test_a_query_is_not_keyed(ada: Phone) -> None:
    answers = [
        await ada.post("{ viewer { id } }", **{"Idempotency-Key": "k" * 300}) for _ in range(2)
    ]

    assert [answer.status_code for answer in answers] == [200, 200]
    assert all("idempotent-replayed" not in answer.headers for answer in answers)
    assert answers[0].json()["data"]["viewer"]["id"] == ada.user_id


async def test_a_mutation_with_a_bad_key_is_refused(ada: Phone) -> None:
    dataset_id = (await ada.dataset())["dataset_id"]

    response = await start_job(ada, dataset_id, "k" * 300)

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "INVALID_IDEMPOTENCY_KEY"
    assert await job_ids(ada) == []


async def test_an_answer_with_errors_is_not_kept_and_the_retry_runs(
    client: httpx.AsyncClient,
) -> None:
    """The BFF alone, its services down: the failure is a GraphQL error, and not kept."""
    tokens = await sign_up(client)
    headers = {**bearer(tokens), "Idempotency-Key": "start-1"}
    body = {
        "query": CREATE_JOB,
        "variables": {
            "input": {"datasetId": "00000000-0000-0000-0000-000000000001", "target": "y"}
        },
    }

    answers = [await client.post("/graphql", json=body, headers=headers) for _ in range(2)]

    for answer in answers:
        assert "idempotent-replayed" not in answer.headers
        assert answer.json()["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
