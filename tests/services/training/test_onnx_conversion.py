"""The fast ONNX export gives byte for byte what skl2onnx's own parser and converters give."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType, StringTensorType

from services.training.trainer import export_onnx, fit_model, load_rows
from services.training.training_run import TrainingSpec
from tests.services.training.test_trainer import FEATURES, onnx_feeds, spec, write_dataset

CASES = [
    ("random_forest", "bought", "classification", {"n_estimators": 12, "max_depth": 6}),
    ("random_forest", "grade", "classification", {"n_estimators": 12}),
    ("random_forest", "score", "regression", {"n_estimators": 12}),
    ("logistic_regression", "grade", "classification", {}),
    ("gradient_boosting", "bought", "classification", {"n_estimators": 5}),
    ("gradient_boosting", "score", "regression", {"n_estimators": 5}),
    ("linear_regression", "score", "regression", {}),
]


def _reference(training: TrainingSpec, pipeline: Any) -> bytes:
    """skl2onnx's generic path: ZipMap left out by options, its own converters."""
    inputs = [
        (f.name, FloatTensorType([None, 1]) if f.type == "number" else StringTensorType([None, 1]))
        for f in training.features
    ]
    options = {id(pipeline): {"zipmap": False}} if training.task == "classification" else None
    return to_onnx(pipeline, initial_types=inputs, options=options).SerializeToString()  # type: ignore[no-any-return]


@pytest.mark.parametrize(("model", "target", "task", "params"), CASES)
def test_export_is_identical_to_skl2onnx(
    tmp_path: Path, model: str, target: str, task: str, params: dict[str, Any]
) -> None:
    dataset = write_dataset(tmp_path / "data.parquet", rows=300)
    training = spec(model=model, target=target, task=task, hyperparameters=params)
    fitted = fit_model(training, str(dataset))
    artifact = tmp_path / "model.onnx"

    export_onnx(training, fitted.pipeline, artifact)

    assert artifact.read_bytes() == _reference(training, fitted.pipeline)


def test_exported_forest_predicts_like_scikit_learn(tmp_path: Path) -> None:
    dataset = write_dataset(tmp_path / "data.parquet", rows=400, seed=3)
    training = spec(model="random_forest", target="grade", hyperparameters={"n_estimators": 30})
    fitted = fit_model(training, str(dataset))
    artifact = tmp_path / "model.onnx"
    export_onnx(training, fitted.pipeline, artifact)
    x, _ = load_rows(training, str(dataset))

    labels, probabilities = ort.InferenceSession(str(artifact)).run(None, onnx_feeds(x, FEATURES))

    assert (labels[:, 0] if labels.ndim == 2 else labels).tolist() == list(
        fitted.pipeline.predict(x)
    )
    np.testing.assert_allclose(probabilities, fitted.pipeline.predict_proba(x), atol=1e-5)
