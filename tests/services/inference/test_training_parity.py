"""Models the training service made answer through the inference service as they did in
training: the same labels and, to float32 precision, the same probabilities on held-out rows."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from threadpoolctl import threadpool_limits

from services.training.trainer import fit_model, train
from services.training.training_run import FittedModel, TrainingResult, TrainingSpec
from tests.services.training.test_trainer import FEATURES, write_dataset
from tests.support.apps import service_headers
from tests.support.inference_api import ALICE, InferenceApi

MODELS = {
    "classification": ["logistic_regression", "random_forest", "gradient_boosting"],
    "regression": ["linear_regression", "random_forest", "gradient_boosting"],
}
CASES = [(task, model) for task, models in MODELS.items() for model in models]


def trained(tmp_path: Path, task: str, model: str) -> tuple[TrainingResult, bytes, FittedModel]:
    """The real training code's result and artifact, and the same fit kept in this process."""
    dataset = write_dataset(tmp_path / "data.parquet", rows=240, seed=4)
    spec = TrainingSpec(
        task=task,  # type: ignore[arg-type]
        model=model,
        target="grade" if task == "classification" else "score",
        features=FEATURES,
        seed=11,
        validation_split=0.25,
    )
    artifact = tmp_path / "model.onnx"
    result = train(spec, str(dataset), str(artifact))
    with threadpool_limits(limits=spec.threads):  # as train fits, so the numbers are the same
        fitted = fit_model(spec, str(dataset))
    return result, artifact.read_bytes(), fitted


def request_rows(x: NDArray[Any]) -> list[dict[str, Any]]:
    """The held-out rows as a phone sends them: missing values as null."""
    rows = []
    for values in x.tolist():
        row: dict[str, Any] = {}
        for feature, value in zip(FEATURES, values, strict=True):
            missing = value == "" or (isinstance(value, float) and math.isnan(value))
            row[feature.name] = None if missing else value
        rows.append(row)
    return rows


async def register(api: InferenceApi, task: str, result: TrainingResult, artifact: bytes) -> str:
    metadata = {
        "name": f"{task} model",
        "task": task,
        "format": result.artifact_format,
        "features": [{"name": f.name, "type": f.type} for f in result.features],
        "classes": result.classes,
        "metrics": result.metrics,
    }
    response = await api.client.post(
        "/internal/v1/models/versions",
        headers=service_headers("inference", ALICE),
        files={
            "metadata": (None, json.dumps(metadata), "application/json"),
            "artifact": ("model.onnx", artifact, "application/octet-stream"),
        },
    )
    assert response.status_code == 201, response.text
    model_id: str = response.json()["model_id"]
    return model_id


@pytest.mark.parametrize(("task", "model"), CASES)
async def test_held_out_predictions_equal_the_training_time_pipeline(
    api: InferenceApi, tmp_path: Path, task: str, model: str
) -> None:
    result, artifact, fitted = trained(tmp_path, task, model)
    assert result.artifact_format == "onnx"
    assert result.validation_rows == len(fitted.y_validation) == 60
    model_id = await register(api, task, result, artifact)

    response = await api.predict(ALICE, model_id, request_rows(fitted.x_validation))

    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    pipeline, x = fitted.pipeline, fitted.x_validation
    if task == "regression":
        # The graph computes in float32: equal to about 1e-6 of the target's scale (~3 here).
        served = np.array([p["label"] for p in predictions], dtype=np.float64)
        np.testing.assert_allclose(served, pipeline.predict(x), rtol=1e-5, atol=1e-5)
        return
    assert [p["label"] for p in predictions] == [str(v) for v in pipeline.predict(x)]
    classes = [str(c) for c in pipeline.classes_]
    assert result.classes == classes
    served_probabilities = np.array([[p["probabilities"][c] for c in classes] for p in predictions])
    np.testing.assert_allclose(served_probabilities, pipeline.predict_proba(x), rtol=0, atol=1e-6)
