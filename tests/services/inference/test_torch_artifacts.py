"""torch-safetensors models: served equal to the training-time network; nothing unpickled."""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from typing import Any

import httpx
import numpy as np
import pytest
import torch
from safetensors.torch import save as save_safetensors

from proto.torch_artifact import ARCHITECTURE_FILE, WEIGHTS_FILE, pack_artifact
from tests.services.inference.torch_models import TorchModel, train_torch_mlp
from tests.support.apps import service_headers
from tests.support.inference_api import ALICE, InferenceApi
from tests.support.onnx_models import SAMPLE_FEATURES, only_features, sample_rows, to_matrix


@pytest.fixture(scope="module")
def torch_classifier() -> TorchModel:
    return train_torch_mlp("classification", seed=0)


@pytest.fixture(scope="module")
def torch_regressor() -> TorchModel:
    return train_torch_mlp("regression", seed=0)


async def _register(
    api: InferenceApi, model: TorchModel, artifact: bytes | None = None, **metadata: Any
) -> httpx.Response:
    return await api.client.post(
        "/internal/v1/models/versions",
        headers=service_headers("inference", ALICE),
        files={
            "metadata": (None, json.dumps(model.register_metadata("mlp", **metadata))),
            "artifact": ("model.zip", artifact or model.artifact, "application/zip"),
        },
    )


async def test_classifier_predictions_equal_the_training_time_network(
    api: InferenceApi, torch_classifier: TorchModel
) -> None:
    registered = await _register(api, torch_classifier)
    assert registered.status_code == 201, registered.text
    assert registered.json()["format"] == "torch-safetensors"
    rows = torch_classifier.held_out

    response = await api.predict(ALICE, registered.json()["model_id"], rows)

    assert response.status_code == 200, response.text
    expected = torch_classifier.outputs(rows)
    classes = ["no", "yes"]
    for prediction, probabilities in zip(response.json()["predictions"], expected, strict=True):
        got = [prediction["probabilities"][c] for c in classes]
        np.testing.assert_allclose(got, probabilities, atol=1e-6)
        assert prediction["label"] == classes[int(np.argmax(probabilities))]


async def test_regressor_predictions_equal_the_training_time_network(
    api: InferenceApi, torch_regressor: TorchModel
) -> None:
    registered = await _register(api, torch_regressor)
    assert registered.status_code == 201, registered.text
    rows = [*torch_regressor.held_out, {"age": None, "income": None, "city": None}]

    response = await api.predict(ALICE, registered.json()["model_id"], rows)

    assert response.status_code == 200, response.text
    got = [p["label"] for p in response.json()["predictions"]]
    np.testing.assert_allclose(got, torch_regressor.outputs(rows), rtol=1e-5)


def _with_weights(model: TorchModel, weights: dict[str, torch.Tensor]) -> bytes:
    return pack_artifact(model.architecture, save_safetensors(weights))


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("case", "fragment"),
    [
        ("wrong_shape", "expected float32"),
        ("extra_tensor", "extra ['layers.9.weight']"),
        ("missing_tensor", "missing ['layers.2.bias']"),
        ("float64", "expected float32"),
        ("pickle_member", "must hold exactly"),
        ("pickle_weights", "cannot be read"),
        ("bad_architecture", "architecture.json is invalid"),
    ],
)
async def test_broken_artifacts_are_invalid_model(
    api: InferenceApi, torch_classifier: TorchModel, case: str, fragment: str
) -> None:
    weights = dict(torch_classifier.weights)
    architecture = torch_classifier.architecture.model_dump_json().encode()
    if case == "wrong_shape":
        weights["layers.0.weight"] = torch.zeros(3, 3)
    elif case == "extra_tensor":
        weights["layers.9.weight"] = torch.zeros(1)
    elif case == "missing_tensor":
        del weights["layers.2.bias"]
    elif case == "float64":
        weights["layers.0.bias"] = weights["layers.0.bias"].double()
    artifact = _with_weights(torch_classifier, weights)
    evil = pickle.dumps({"weights": [1, 2, 3]})
    if case == "pickle_member":
        artifact = _zip({ARCHITECTURE_FILE: architecture, "model.pkl": evil})
    elif case == "pickle_weights":
        artifact = _zip({ARCHITECTURE_FILE: architecture, WEIGHTS_FILE: evil})
    elif case == "bad_architecture":
        broken = json.loads(architecture)
        broken["input_size"] = 99  # disagrees with the preprocessing
        artifact = _zip({ARCHITECTURE_FILE: json.dumps(broken).encode(), WEIGHTS_FILE: b"x"})

    response = await _register(api, torch_classifier, artifact=artifact)

    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "INVALID_MODEL"
    assert fragment in response.json()["error"]["message"]


async def test_metadata_must_match_the_architecture(
    api: InferenceApi, torch_classifier: TorchModel
) -> None:
    other_features = await _register(
        api,
        torch_classifier,
        features=[{"name": "age", "type": "number"}, {"name": "town", "type": "string"}],
    )
    other_classes = await _register(api, torch_classifier, classes=["yes", "no"])

    assert other_features.status_code == 422
    assert "do not match the declared features" in other_features.json()["error"]["message"]
    assert other_classes.status_code == 422
    assert "classes" in other_classes.json()["error"]["message"]


@pytest.mark.parametrize("task", ["classification", "regression"])
async def test_the_training_services_own_mlp_is_served_as_it_predicts(
    api: InferenceApi, task: str
) -> None:
    from services.training.torch_models import fit_mlp

    rows = sample_rows(200, seed=3)
    train, held_out = rows[:150], rows[150:]
    target = "label" if task == "classification" else "level"
    x_train = to_matrix(train, SAMPLE_FEATURES)
    x_held_out = to_matrix(held_out, SAMPLE_FEATURES)
    y_train = np.array([r[target] for r in train], dtype=object if target == "label" else float)
    y_held_out = np.array([r[target] for r in held_out], dtype=y_train.dtype)
    trained = fit_mlp(
        task,
        list(SAMPLE_FEATURES.items()),
        (x_train, x_held_out, y_train, y_held_out),
        {},
        0,
        1,
        lambda: None,
    )
    metadata = {
        "name": f"trained-{task}",
        "task": task,
        "format": "torch-safetensors",
        "features": [{"name": n, "type": t} for n, t in SAMPLE_FEATURES.items()],
        "classes": trained.architecture.classes,
    }
    registered = await api.client.post(
        "/internal/v1/models/versions",
        headers=service_headers("inference", ALICE),
        files={
            "metadata": (None, json.dumps(metadata)),
            "artifact": ("model.zip", trained.artifact(), "application/zip"),
        },
    )
    assert registered.status_code == 201, registered.text

    response = await api.predict(
        ALICE, registered.json()["model_id"], only_features(held_out, SAMPLE_FEATURES)
    )

    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    labels = [p["label"] for p in predictions]
    if task == "regression":
        np.testing.assert_allclose(labels, trained.predict(x_held_out), rtol=1e-6)
    else:
        assert labels == list(trained.predict(x_held_out))
        classes = trained.architecture.classes or []
        got = [[p["probabilities"][c] for c in classes] for p in predictions]
        np.testing.assert_allclose(got, trained.predict_proba(x_held_out), atol=1e-6)
