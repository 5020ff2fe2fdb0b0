"""Batch reads (the BFF's DataLoaders): several models or versions in one call, the acting
user's only."""

from __future__ import annotations

import uuid

from tests.support.apps import service_headers
from tests.support.inference_api import ALICE, BOB, InferenceApi
from tests.support.onnx_models import TrainedModel


async def test_models_come_back_with_aliases_and_others_are_left_out(
    api: InferenceApi, classifier: TrainedModel, regressor: TrainedModel
) -> None:
    mine = (await api.register(ALICE, classifier, "churn")).json()
    bobs = (await api.register(BOB, regressor, "spend")).json()
    ids = [str(mine["model_id"]), str(bobs["model_id"]), str(uuid.uuid4())]

    response = await api.client.post(
        "/internal/v1/models/batch", json={"ids": ids}, headers=service_headers("inference", ALICE)
    )

    assert response.status_code == 200, response.text
    [model] = response.json()["items"]
    assert model["id"] == mine["model_id"]
    assert model["name"] == "churn"
    assert model["aliases"] == {"production": 1}
    assert model == (await api.get(ALICE, f"/models/{mine['model_id']}")).json()


async def test_versions_come_back_by_model_and_number(
    api: InferenceApi, classifier: TrainedModel, regressor: TrainedModel
) -> None:
    mine = (await api.register(ALICE, classifier, "churn")).json()
    bobs = (await api.register(BOB, regressor, "spend")).json()
    keys = [
        {"model_id": mine["model_id"], "version": 1},
        {"model_id": mine["model_id"], "version": 9},
        {"model_id": bobs["model_id"], "version": 1},
    ]

    response = await api.client.post(
        "/internal/v1/models/versions/batch",
        json={"keys": keys},
        headers=service_headers("inference", ALICE),
    )

    assert response.status_code == 200, response.text
    assert response.json()["items"] == [mine]


async def test_more_than_100_ids_are_a_422(api: InferenceApi) -> None:
    response = await api.client.post(
        "/internal/v1/models/batch",
        json={"ids": [str(uuid.uuid4()) for _ in range(101)]},
        headers=service_headers("inference", ALICE),
    )

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "VALIDATION_FAILED"
