"""The report's figures: one batched prediction gives what one prediction per feature gives."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from sklearn import metrics as skm

from services.training.report import permutation_importance, predict_held_out
from services.training.trainer import fit_model
from tests.services.training.test_trainer import spec, write_dataset


def _score(task: str, model: Any, y: NDArray[Any], matrix: NDArray[Any]) -> float:
    predicted = model.predict(matrix)
    if task == "classification":
        return float(skm.accuracy_score(y, predicted))
    return -math.sqrt(float(skm.mean_squared_error(y, predicted)))


@pytest.mark.parametrize(("task", "target"), [("classification", "grade"), ("regression", "score")])
def test_batched_permutation_importance_matches_one_prediction_per_feature(
    tmp_path: Path, task: str, target: str
) -> None:
    dataset = write_dataset(tmp_path / "data.parquet", rows=400)
    training = spec(model="random_forest", task=task, target=target)
    fitted = fit_model(training, str(dataset))
    model, x, y = fitted.pipeline, fitted.x_validation, fitted.y_validation
    names = [f.name for f in training.features]

    importances = permutation_importance(task, model, names, x, y, seed=7)

    rng = np.random.default_rng(7)
    baseline = _score(task, model, y, x)
    expected = {}
    for i, name in enumerate(names):
        shuffled = x.copy()
        shuffled[:, i] = x[rng.permutation(len(x)), i]
        expected[name] = round(baseline - _score(task, model, y, shuffled), 6)
    assert {i["feature"]: i["importance"] for i in importances} == expected


def test_held_out_labels_are_what_predict_gives(tmp_path: Path) -> None:
    dataset = write_dataset(tmp_path / "data.parquet", rows=400)
    for model in ("logistic_regression", "random_forest", "gradient_boosting", "mlp"):
        training = spec(model=model, target="grade", hyperparameters={})
        fitted = fit_model(training, str(dataset))

        predictions = predict_held_out("classification", fitted.pipeline, fitted.x_validation)

        assert list(predictions.predicted) == list(fitted.pipeline.predict(fitted.x_validation))
        assert predictions.probabilities is not None
        assert predictions.probabilities.shape == (len(fitted.x_validation), 3)
