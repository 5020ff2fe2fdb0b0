"""Batch reads (the BFF's DataLoaders): several datasets or versions in one call, the
acting user's only."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.support.dataset_files import sample_csv
from tests.support.datasets_api import ALICE, BOB, DatasetsApi, headers


async def _post(api: DatasetsApi, path: str, body: Any, user: str = ALICE) -> httpx.Response:
    return await api.client.post(f"/internal/v1{path}", json=body, headers=headers(user))


async def test_datasets_come_back_in_one_call_and_others_are_left_out(api: DatasetsApi) -> None:
    first = await api.upload(sample_csv(5), filename="first.csv")
    second = await api.upload(sample_csv(7), filename="second.csv")
    bobs = await api.upload(sample_csv(3), user=BOB, filename="bobs.csv")
    ids = [first["dataset_id"], second["dataset_id"], bobs["dataset_id"], str(uuid.uuid4())]

    response = await _post(api, "/datasets/batch", {"ids": [*ids, first["dataset_id"]]})

    assert response.status_code == 200, response.text
    found = {item["id"]: item for item in response.json()["items"]}
    assert set(found) == {first["dataset_id"], second["dataset_id"]}
    assert found[second["dataset_id"]]["name"] == "second"
    assert found[second["dataset_id"]]["row_count"] == 7
    assert found[first["dataset_id"]]["columns"][0]["name"] == "id"


async def test_a_deleted_dataset_is_left_out(api: DatasetsApi) -> None:
    version = await api.upload(sample_csv(5))
    await api.delete(f"/datasets/{version['dataset_id']}")

    response = await _post(api, "/datasets/batch", {"ids": [version["dataset_id"]]})

    assert response.json() == {"items": []}


async def test_versions_come_back_by_dataset_and_number(api: DatasetsApi) -> None:
    version = await api.upload(sample_csv(5))
    bobs = await api.upload(sample_csv(3), user=BOB)
    keys = [
        {"dataset_id": version["dataset_id"], "version": 1},
        {"dataset_id": version["dataset_id"], "version": 2},
        {"dataset_id": bobs["dataset_id"], "version": 1},
    ]

    response = await _post(api, "/datasets/versions/batch", {"keys": keys})

    assert response.status_code == 200, response.text
    assert response.json()["items"] == [version]


async def test_more_than_100_ids_or_none_are_a_422(api: DatasetsApi) -> None:
    too_many = {"ids": [str(uuid.uuid4()) for _ in range(101)]}
    keys = [{"dataset_id": str(uuid.uuid4()), "version": 1}] * 101

    answers = [
        await _post(api, "/datasets/batch", too_many),
        await _post(api, "/datasets/batch", {"ids": []}),
        await _post(api, "/datasets/versions/batch", {"keys": keys}),
    ]

    for answer in answers:
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["code"] == "VALIDATION_FAILED"
        assert answer.json()["error"]["details"]["fields"][0]["field"] in {"ids", "keys"}
