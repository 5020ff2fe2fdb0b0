"""The inference API as its callers use it: register a version, read the registry, predict."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest

from services.inference.app import create_app
from tests.support.apps import running_app, service_headers
from tests.support.inference_api import ALICE, BOB, InferenceApi, inference_settings
from tests.support.onnx_models import TrainedModel, export_onnx, to_matrix


async def _register_ok(api: InferenceApi, model: TrainedModel, name: str, **extra: object) -> dict:
    response = await api.register(ALICE, model, name, **extra)
    assert response.status_code == 201, response.text
    return response.json()


async def test_classifier_predictions_match_scikit_learn(
    api: InferenceApi, classifier: TrainedModel
) -> None:
    version = await _register_ok(api, classifier, "churn")
    assert version["version"] == 1
    assert version["classes"] == classifier.classes

    response = await api.predict(ALICE, version["model_id"], classifier.held_out)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_id"] == version["model_id"] and body["version"] == 1
    x = to_matrix(classifier.held_out, classifier.features)
    expected_labels = classifier.pipeline.predict(x)
    expected_probabilities = classifier.pipeline.predict_proba(x)
    assert len(set(expected_labels)) == 2  # the held-out rows exercise both classes
    for prediction, label, probabilities in zip(
        body["predictions"], expected_labels, expected_probabilities, strict=True
    ):
        assert prediction["label"] == label
        got = [prediction["probabilities"][c] for c in classifier.classes or []]
        np.testing.assert_allclose(got, probabilities, atol=1e-5)
        assert prediction["confidence"] == pytest.approx(max(probabilities), abs=1e-5)


async def test_regressor_predictions_match_scikit_learn(
    api: InferenceApi, regressor: TrainedModel
) -> None:
    version = await _register_ok(api, regressor, "level")

    response = await api.predict(ALICE, version["model_id"], regressor.held_out)

    assert response.status_code == 200, response.text
    labels = [p["label"] for p in response.json()["predictions"]]
    expected = regressor.pipeline.predict(to_matrix(regressor.held_out, regressor.features))
    np.testing.assert_allclose(labels, expected, rtol=1e-5)
    assert all(p["probabilities"] is None for p in response.json()["predictions"])


async def test_missing_values_are_imputed(api: InferenceApi, classifier: TrainedModel) -> None:
    version = await _register_ok(api, classifier, "churn")
    rows = [{"age": None, "income": None, "city": None}]

    response = await api.predict(ALICE, version["model_id"], rows)

    assert response.status_code == 200, response.text
    expected = classifier.pipeline.predict_proba(to_matrix(rows, classifier.features))[0]
    got = response.json()["predictions"][0]["probabilities"]
    np.testing.assert_allclose([got[c] for c in classifier.classes or []], expected, atol=1e-5)


async def test_same_name_makes_a_new_version_and_production_stays(
    api: InferenceApi, classifier: TrainedModel, classifier_v2: TrainedModel
) -> None:
    first = await _register_ok(api, classifier, "churn")
    second = await _register_ok(api, classifier_v2, "churn", metrics={"accuracy": 0.9})

    assert second["model_id"] == first["model_id"]
    assert second["version"] == 2
    model = (await api.get(ALICE, f"/models/{first['model_id']}")).json()
    assert model["latest_version"] == 2
    assert model["aliases"] == {"production": 1}
    stored = (await api.get(ALICE, f"/models/{first['model_id']}/versions/2")).json()
    assert stored["metrics"] == {"accuracy": 0.9}

    rows = classifier.held_out[:5]
    default = (await api.predict(ALICE, first["model_id"], rows)).json()
    explicit = (await api.predict(ALICE, first["model_id"], rows, version=2)).json()
    by_alias = (await api.predict(ALICE, first["model_id"], rows, alias="production")).json()

    assert default["version"] == 1 and by_alias["version"] == 1
    assert explicit["version"] == 2
    x = to_matrix(rows, classifier.features)
    v2_probabilities = classifier_v2.pipeline.predict_proba(x)
    for prediction, expected in zip(explicit["predictions"], v2_probabilities, strict=True):
        got = [prediction["probabilities"][c] for c in classifier_v2.classes or []]
        np.testing.assert_allclose(got, expected, atol=1e-5)


async def test_a_training_job_registers_one_version_even_when_retried(
    api: InferenceApi, classifier: TrainedModel
) -> None:
    job_id = str(uuid.uuid4())
    first = await _register_ok(api, classifier, "churn", training_job_id=job_id)
    retried = await _register_ok(api, classifier, "churn", training_job_id=job_id)

    assert (retried["model_id"], retried["version"]) == (first["model_id"], first["version"])
    model = (await api.get(ALICE, f"/models/{first['model_id']}")).json()
    assert model["latest_version"] == 1


async def test_unknown_version_or_alias_is_404(api: InferenceApi, classifier: TrainedModel) -> None:
    version = await _register_ok(api, classifier, "churn")
    rows = classifier.held_out[:1]

    missing_version = await api.predict(ALICE, version["model_id"], rows, version=7)
    missing_alias = await api.predict(ALICE, version["model_id"], rows, alias="staging")
    missing_model = await api.predict(ALICE, uuid.uuid4(), rows)
    version_page = await api.get(ALICE, f"/models/{version['model_id']}/versions/7")

    assert missing_version.status_code == 404
    assert missing_version.json()["error"]["code"] == "MODEL_VERSION_NOT_FOUND"
    assert missing_alias.status_code == 404
    assert missing_alias.json()["error"]["code"] == "MODEL_ALIAS_NOT_FOUND"
    assert missing_model.status_code == 404
    assert version_page.status_code == 404


async def test_bad_rows_are_422_naming_each_feature_and_row(
    api: InferenceApi, classifier: TrainedModel
) -> None:
    version = await _register_ok(api, classifier, "churn")
    rows = [
        {"age": 30.0, "income": 40.0, "city": "paris"},
        {"age": 30.0, "city": "paris"},
        {"age": 30.0, "income": 40.0, "city": "paris", "height": 1.8},
        {"age": "thirty", "income": 40.0, "city": 7},
        {"age": True, "income": 40.0, "city": "nice"},
    ]

    response = await api.predict(ALICE, version["model_id"], rows)

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "INVALID_ROWS"
    assert error["action"] == "fix_input"
    problems = {(p["row"], p["feature"]) for p in error["details"]["problems"]}
    assert problems == {(1, "income"), (2, "height"), (3, "age"), (3, "city"), (4, "age")}
    for fragment in (
        "row 1: feature 'income' is missing",
        "row 2: feature 'height'",
        "row 3: feature 'age' must be a number, got a string",
        "row 3: feature 'city' must be a string, got a number",
    ):
        assert fragment in error["message"]


async def test_numbers_no_model_can_take_are_422_and_the_next_caller_is_served(
    api: InferenceApi, classifier: TrainedModel
) -> None:
    version = await _register_ok(api, classifier, "churn")
    huge = [{"age": 1e308, "income": -1e308, "city": "paris"}]

    refused = await api.predict(ALICE, version["model_id"], huge)
    served = await api.predict(ALICE, version["model_id"], classifier.held_out[:1])

    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "INVALID_ROWS"
    assert "feature 'age' must be between" in refused.json()["error"]["message"]
    assert served.status_code == 200
    (prediction,) = served.json()["predictions"]
    assert all(isinstance(p, float) for p in prediction["probabilities"].values())


async def test_empty_rows_are_refused(api: InferenceApi, classifier: TrainedModel) -> None:
    version = await _register_ok(api, classifier, "churn")

    response = await api.predict(ALICE, version["model_id"], [])

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "VALIDATION_FAILED"


async def test_non_onnx_artifact_is_invalid_model(
    api: InferenceApi, classifier: TrainedModel
) -> None:
    not_onnx = b"PK\x03\x04 a zip file, not a model"

    response = await api.register(ALICE, classifier, "churn", artifact=not_onnx)

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "INVALID_MODEL"
    assert (await api.get(ALICE, "/models")).json()["items"] == []


async def test_artifact_whose_inputs_differ_from_the_features_is_invalid_model(
    api: InferenceApi, classifier: TrainedModel
) -> None:
    town = export_onnx(classifier.pipeline, {"age": "number", "income": "number", "town": "string"})

    renamed = await api.register(ALICE, classifier, "churn", artifact=town)
    retyped = await api.register(
        ALICE,
        classifier,
        "churn",
        features=[
            {"name": "age", "type": "number"},
            {"name": "income", "type": "string"},
            {"name": "city", "type": "string"},
        ],
    )

    assert renamed.status_code == 422
    assert renamed.json()["error"]["code"] == "INVALID_MODEL"
    assert "'city'" in renamed.json()["error"]["message"]
    assert "'town'" in renamed.json()["error"]["message"]
    assert retyped.status_code == 422
    assert "input 'income' is tensor(float)" in retyped.json()["error"]["message"]


async def test_declared_classes_must_match_the_model(
    api: InferenceApi, classifier: TrainedModel
) -> None:
    response = await api.register(ALICE, classifier, "churn", classes=["no", "maybe", "yes"])

    assert response.status_code == 422
    assert "3 classes" in response.json()["error"]["message"]


async def test_an_onnx_file_declared_as_torch_is_invalid_model(
    api: InferenceApi, classifier: TrainedModel
) -> None:
    response = await api.register(ALICE, classifier, "churn", format="torch-safetensors")

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "INVALID_MODEL"
    assert "not a ZIP archive" in error["message"]


async def test_invalid_metadata_is_422(api: InferenceApi, classifier: TrainedModel) -> None:
    response = await api.register(ALICE, classifier, "churn", task="clustering")

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "VALIDATION_FAILED"
    assert "task" in response.json()["error"]["message"]


async def test_oversize_artifact_is_413(tmp_path: Path, classifier: TrainedModel) -> None:
    settings = inference_settings(tmp_path, max_artifact_bytes=len(classifier.onnx_bytes) - 1)
    async with running_app(create_app(settings)) as client:
        api = InferenceApi(client)

        response = await api.register(ALICE, classifier, "churn")

        assert response.status_code == 413
        assert response.json()["error"]["code"] == "ARTIFACT_TOO_LARGE"
        assert not list((settings.service_dir / "artifacts").rglob("*.onnx"))


async def test_another_user_cannot_see_or_use_a_model(
    api: InferenceApi, classifier: TrainedModel
) -> None:
    version = await _register_ok(api, classifier, "churn")
    model_id = version["model_id"]

    assert (await api.get(BOB, f"/models/{model_id}")).status_code == 404
    assert (await api.get(BOB, f"/models/{model_id}/versions/1")).status_code == 404
    assert (await api.predict(BOB, model_id, classifier.held_out[:1])).status_code == 404
    assert (await api.get(BOB, "/models")).json()["items"] == []
    # Bob's model of the same name is his own, at version 1.
    bobs = await api.register(BOB, classifier, "churn")
    assert bobs.json()["model_id"] != model_id and bobs.json()["version"] == 1


async def test_list_is_newest_first_and_paginated(
    api: InferenceApi, classifier: TrainedModel, regressor: TrainedModel
) -> None:
    names = ["a", "b", "c"]
    for name in names:
        await _register_ok(api, regressor if name == "b" else classifier, name)

    first = (await api.get(ALICE, "/models", limit=2)).json()
    second = (await api.get(ALICE, "/models", limit=2, cursor=first["next_cursor"])).json()

    assert [m["name"] for m in first["items"]] == ["c", "b"]
    assert [m["name"] for m in second["items"]] == ["a"]
    assert second["next_cursor"] is None
    model = first["items"][1]
    assert model["task"] == "regression" and model["aliases"] == {"production": 1}
    assert model["owner_id"] == ALICE
    assert [f["name"] for f in model["features"]] == ["age", "income", "city"]
    bad_cursor = await api.get(ALICE, "/models", cursor="not-a-cursor")
    assert bad_cursor.status_code == 400


async def test_internal_routes_need_a_service_token_for_inference(
    api: InferenceApi, classifier: TrainedModel
) -> None:
    version = await _register_ok(api, classifier, "churn")
    path = f"/internal/v1/models/{version['model_id']}/predict"
    body = {"rows": classifier.held_out[:1]}

    anonymous = await api.client.post(path, json=body)
    wrong_audience = await api.client.post(
        path, json=body, headers=service_headers("datasets", ALICE)
    )
    no_user = await api.client.get("/internal/v1/models", headers=service_headers("inference"))

    assert anonymous.status_code == 401
    assert wrong_audience.status_code == 403
    assert wrong_audience.json()["error"]["code"] == "SERVICE_TOKEN_WRONG_AUDIENCE"
    assert no_user.status_code == 403


async def test_failed_registration_leaves_no_artifact_behind(
    tmp_path: Path, classifier: TrainedModel, regressor: TrainedModel
) -> None:
    settings = inference_settings(tmp_path)
    async with running_app(create_app(settings)) as client:
        api = InferenceApi(client)
        await _register_ok(api, classifier, "churn")

        response = await api.register(ALICE, regressor, "churn")

        assert response.status_code == 422
        assert response.json()["error"]["code"] == "MODEL_TASK_MISMATCH"
        assert len(list((settings.service_dir / "artifacts").rglob("*.onnx"))) == 1
        model = (await api.get(ALICE, "/models")).json()["items"][0]
        assert model["latest_version"] == 1
