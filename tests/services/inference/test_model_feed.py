"""Models, versions and aliases in the change feed: the latest contract of each, a removed
alias as a tombstone, each user's own; on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from tests.support.inference_api import ALICE, BOB, InferenceApi
from tests.support.onnx_models import TrainedModel


async def feed(api: InferenceApi, user: str = ALICE, since: int = 0) -> dict[str, Any]:
    response = await api.get(user, "/feed", since=since)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


def entries(page: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(e["kind"], e["id"], e["op"]) for e in page["entries"]]


async def test_a_registered_model_its_version_and_alias_are_in_the_owners_feed(
    any_db_api: InferenceApi, classifier: TrainedModel
) -> None:
    api = any_db_api
    registered = await api.register(ALICE, classifier, "churn")
    assert registered.status_code == 201, registered.text
    version = registered.json()
    model_id = version["model_id"]

    page = await feed(api)

    assert entries(page) == [
        ("model_version", f"{model_id}/1", "upsert"),
        ("model_alias", f"{model_id}/production", "upsert"),
        ("model", model_id, "upsert"),
    ]
    data = [e["data"] for e in page["entries"]]
    assert data[0] == version
    assert data[1] == {"model_id": model_id, "alias": "production", "version": 1}
    assert data[2] == (await api.get(ALICE, f"/models/{model_id}")).json()
    assert data[2]["aliases"] == {"production": 1}
    assert page["last_seq"] == 3
    models = await api.get(ALICE, "/models")
    assert models.headers["x-tern-version"] == "3"
    assert (await feed(api, BOB))["entries"] == []  # one user never sees another's models


async def test_a_second_version_and_alias_moves_update_the_model_and_a_removal_is_a_tombstone(
    any_db_api: InferenceApi, classifier: TrainedModel, classifier_v2: TrainedModel
) -> None:
    api = any_db_api
    model_id = (await api.register(ALICE, classifier, "churn")).json()["model_id"]
    start = (await feed(api))["last_seq"]

    assert (await api.register(ALICE, classifier_v2, "churn")).status_code == 201
    assert (await api.set_alias(ALICE, model_id, "staging", 2)).status_code == 200
    assert (await api.delete_alias(ALICE, model_id, "production")).status_code == 204
    refused = await api.delete_alias(BOB, model_id, "staging")  # not Bob's: no change
    assert refused.status_code == 404

    page = await feed(api, since=start)

    assert entries(page) == [
        ("model_version", f"{model_id}/2", "upsert"),
        ("model_alias", f"{model_id}/staging", "upsert"),
        ("model_alias", f"{model_id}/production", "delete"),
        ("model", model_id, "upsert"),
    ]
    removed, model = page["entries"][2]["data"], page["entries"][3]["data"]
    assert removed == {"model_id": model_id, "alias": "production", "version": 1}
    assert model["aliases"] == {"staging": 2} and model["latest_version"] == 2
    assert model == (await api.get(ALICE, f"/models/{model_id}")).json()
    assert (await feed(api, BOB))["entries"] == []
