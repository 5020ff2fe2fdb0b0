"""Model routes through the BFF to a real inference service: upload, versions, aliases, predict."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import onnx
import pytest

from bff.app import create_app as create_bff
from services.inference.app import create_app as create_inference
from services.inference.settings import InferenceSettings
from tests.support.apps import running_app
from tests.support.bff_accounts import bearer, bff_settings, sign_up
from tests.support.onnx_models import TrainedModel, train_classifier
from tests.support.servers import serve_app
from tests.support.settings import make_settings


@pytest.fixture(scope="module")
def classifier() -> TrainedModel:
    return train_classifier(seed=0)


@pytest.fixture(scope="module")
def classifier_v2() -> TrainedModel:
    return train_classifier(seed=1)


@pytest.fixture
async def bff(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    inference = make_settings(
        InferenceSettings, tmp_path / "inference", log_json=False, predict_rate_limit=5
    )
    async with serve_app(create_inference(inference)) as inference_url:
        settings = bff_settings(
            tmp_path / "bff", inference_url=inference_url, model_upload_max_bytes=64 * 1024
        )
        async with running_app(create_bff(settings)) as client:
            yield client


def _upload_files(model: TrainedModel, artifact: bytes | None = None, **extra: Any) -> Any:
    metadata = {
        "name": "churn",
        "task": model.task,
        "features": model.feature_specs(),
        "classes": model.classes,
        **extra,
    }
    return {
        "metadata": (None, json.dumps(metadata), "application/json"),
        "artifact": ("churn.onnx", artifact or model.onnx_bytes, "application/octet-stream"),
    }


def _fixed_at_one_row(onnx_bytes: bytes) -> bytes:
    """The same model with every input's batch dimension fixed at 1 ([1, 1])."""
    model = onnx.load_model_from_string(onnx_bytes)
    for node in model.graph.input:
        batch = node.type.tensor_type.shape.dim[0]
        batch.ClearField("dim_param")
        batch.dim_value = 1
    return model.SerializeToString()


async def test_upload_promote_roll_back_and_predict(
    bff: httpx.AsyncClient, classifier: TrainedModel, classifier_v2: TrainedModel
) -> None:
    headers = bearer(await sign_up(bff))

    first = await bff.post(
        "/api/v1/models/uploads", files=_upload_files(classifier), headers=headers
    )
    second = await bff.post(
        "/api/v1/models/uploads", files=_upload_files(classifier_v2), headers=headers
    )
    assert first.status_code == 201, first.text
    assert second.status_code == 201, second.text
    model_id = first.json()["model_id"]
    assert first.json()["format"] == "onnx" and second.json()["version"] == 2

    versions = await bff.get(f"/api/v1/models/{model_id}/versions?limit=1", headers=headers)
    assert [v["version"] for v in versions.json()["items"]] == [2]
    assert versions.json()["next_cursor"]
    one = await bff.get(f"/api/v1/models/{model_id}/versions/1", headers=headers)
    assert one.json()["version"] == 1

    promoted = await bff.put(
        f"/api/v1/models/{model_id}/aliases/production", json={"version": 2}, headers=headers
    )
    assert promoted.status_code == 200, promoted.text
    assert promoted.json()["aliases"] == {"production": 2}
    rows = {"rows": classifier.held_out[:2]}
    after_promote = await bff.post(f"/api/v1/models/{model_id}/predict", json=rows, headers=headers)
    assert after_promote.json()["version"] == 2

    await bff.put(
        f"/api/v1/models/{model_id}/aliases/production", json={"version": 1}, headers=headers
    )
    after_rollback = await bff.post(
        f"/api/v1/models/{model_id}/predict", json=rows, headers=headers
    )
    assert after_rollback.json()["version"] == 1
    deleted = await bff.delete(f"/api/v1/models/{model_id}/aliases/production", headers=headers)
    assert deleted.status_code == 204


async def test_uploads_are_validated_and_size_limited(
    bff: httpx.AsyncClient, classifier: TrainedModel
) -> None:
    headers = bearer(await sign_up(bff))

    not_onnx = await bff.post(
        "/api/v1/models/uploads",
        files=_upload_files(classifier, artifact=b"not a model at all"),
        headers=headers,
    )
    too_large = await bff.post(
        "/api/v1/models/uploads",
        files=_upload_files(classifier, artifact=b"\0" * (65 * 1024)),
        headers=headers,
    )
    bad_metadata = await bff.post(
        "/api/v1/models/uploads",
        files=_upload_files(classifier, format="torch-safetensors"),
        headers=headers,
    )
    one_row_only = await bff.post(
        "/api/v1/models/uploads",
        files=_upload_files(classifier, artifact=_fixed_at_one_row(classifier.onnx_bytes)),
        headers=headers,
    )

    assert not_onnx.status_code == 422
    assert not_onnx.json()["error"]["code"] == "INVALID_MODEL"
    assert too_large.status_code == 413
    assert bad_metadata.status_code == 422
    assert bad_metadata.json()["error"]["code"] == "VALIDATION_FAILED"
    # Predictions are batched, so a model that only takes one row at a time is refused now.
    assert one_row_only.status_code == 422
    assert one_row_only.json()["error"]["code"] == "INVALID_MODEL"
    assert "fixed batch dimension of 1" in one_row_only.json()["error"]["message"]
    listed = await bff.get("/api/v1/models", headers=headers)
    assert listed.json()["items"] == []


async def test_predict_rate_limit_reaches_the_phone_with_retry_after(
    bff: httpx.AsyncClient, classifier: TrainedModel
) -> None:
    headers = bearer(await sign_up(bff))
    uploaded = await bff.post(
        "/api/v1/models/uploads", files=_upload_files(classifier), headers=headers
    )
    path = f"/api/v1/models/{uploaded.json()['model_id']}/predict"
    rows = {"rows": classifier.held_out[:1]}

    statuses = [(await bff.post(path, json=rows, headers=headers)) for _ in range(6)]

    assert [r.status_code for r in statuses[:5]] == [200] * 5
    limited = statuses[5]
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "RATE_LIMITED"
    assert int(limited.headers["retry-after"]) >= 1


async def test_get_one_model_and_another_users_is_not_found(
    bff: httpx.AsyncClient, classifier: TrainedModel
) -> None:
    alice = bearer(await sign_up(bff, "alice@example.com"))
    bob = bearer(await sign_up(bff, "bob@example.com", device_id="device-2"))
    uploaded = await bff.post(
        "/api/v1/models/uploads", files=_upload_files(classifier), headers=alice
    )
    assert uploaded.status_code == 201, uploaded.text
    model_id = uploaded.json()["model_id"]

    mine = await bff.get(f"/api/v1/models/{model_id}", headers=alice)
    theirs = await bff.get(f"/api/v1/models/{model_id}", headers=bob)
    missing = await bff.get(f"/api/v1/models/{uuid.uuid4()}", headers=alice)
    anonymous = await bff.get(f"/api/v1/models/{model_id}")

    assert mine.status_code == 200, mine.text
    model = mine.json()
    assert model["id"] == model_id and model["name"] == "churn"
    assert model["task"] == "classification" and model["latest_version"] == 1
    assert model["aliases"] == {"production": 1}
    assert model["features"] == classifier.feature_specs()
    assert theirs.status_code == 404
    assert theirs.json()["error"]["code"] == "MODEL_NOT_FOUND"
    assert missing.status_code == 404
    assert anonymous.status_code == 401


async def test_another_users_model_is_not_found(
    bff: httpx.AsyncClient, classifier: TrainedModel
) -> None:
    alice = bearer(await sign_up(bff, "alice@example.com"))
    bob = bearer(await sign_up(bff, "bob@example.com", device_id="device-2"))
    uploaded = await bff.post(
        "/api/v1/models/uploads", files=_upload_files(classifier), headers=alice
    )
    model_id = uploaded.json()["model_id"]

    moved = await bff.put(
        f"/api/v1/models/{model_id}/aliases/production", json={"version": 1}, headers=bob
    )
    versions = await bff.get(f"/api/v1/models/{model_id}/versions", headers=bob)

    assert moved.status_code == 404
    assert versions.status_code == 404
