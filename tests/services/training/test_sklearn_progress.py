"""Staged fits: the same model as one plain fit, and figures that agree with scikit-learn's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn import metrics as skm

from services.training.sklearn_models import build_estimator, build_pipeline
from services.training.sklearn_progress import STEP_SAMPLE_ROWS, fit_in_stages
from services.training.trainer import load_rows
from tests.services.training.test_trainer import spec, write_dataset


def _data(tmp_path: Path, target: str, task: str) -> tuple[Any, ...]:
    from sklearn.model_selection import train_test_split

    training = spec(target=target, task=task)
    x, y = load_rows(training, str(write_dataset(tmp_path / "data.parquet", rows=1200)))
    return tuple(train_test_split(x, y, test_size=0.25, random_state=0))


def _pipeline(model: str, task: str) -> Any:
    return build_pipeline([0], [1, 2], build_estimator(model, task, {"n_estimators": 20}, 0))


@pytest.mark.parametrize(
    ("model", "target", "task"),
    [
        ("random_forest", "grade", "classification"),
        ("random_forest", "score", "regression"),
        ("gradient_boosting", "bought", "classification"),
    ],
)
def test_staged_fit_matches_one_fit_and_scikit_learn_metrics(
    tmp_path: Path, model: str, target: str, task: str
) -> None:
    data = _data(tmp_path, target, task)
    x_train, x_val, y_train, y_val = data
    steps: list[dict[str, float]] = []
    staged = _pipeline(model, task)

    history = fit_in_stages(task, staged, data, steps.append, lambda: None)

    assert history == steps and [s["epoch"] for s in steps] == list(range(1, 11))
    plain = _pipeline(model, task).fit(x_train, y_train)
    np.testing.assert_array_equal(staged.predict(x_val), plain.predict(x_val))
    last = steps[-1]
    for prefix, x, y in (("", x_train, y_train), ("val_", x_val, y_val)):
        x, y = x[:STEP_SAMPLE_ROWS], y[:STEP_SAMPLE_ROWS]
        if task == "classification":
            probabilities = plain.predict_proba(x)
            loss = skm.log_loss(y, probabilities, labels=list(plain.classes_))
            metric = skm.accuracy_score(y, plain.predict(x))
        else:
            loss = skm.mean_squared_error(y, plain.predict(x))
            metric = np.sqrt(loss)
        assert last[prefix + "loss"] == pytest.approx(loss, rel=1e-9)
        assert last[prefix + "metric"] == pytest.approx(metric, rel=1e-9)


def test_a_cancel_between_stages_stops_the_fit(tmp_path: Path) -> None:
    data = _data(tmp_path, "bought", "classification")
    calls: list[int] = []

    def between_stages() -> None:
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("cancelled")

    with pytest.raises(RuntimeError):
        fit_in_stages(
            "classification",
            _pipeline("random_forest", "classification"),
            data,
            lambda step: None,
            between_stages,
        )
    assert len(calls) == 3
