"""The result report of a training: confusion matrix, ROC curve, feature importance, history.

All plain JSON-able data, computed on the held-out rows in the training process.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from numpy.typing import NDArray
from sklearn import metrics as skm

if TYPE_CHECKING:
    from services.training.training_run import FittedModel, TrainingSpec

MAX_ROC_POINTS = 101
# Permutation importance costs one prediction per feature; beyond this many it is skipped.
MAX_IMPORTANCE_FEATURES = 200
# ...and it scores on at most this many held-out rows.
IMPORTANCE_ROWS = 1000


class Predictor(Protocol):
    def predict(self, x: NDArray[Any]) -> NDArray[Any]: ...


class ProbabilityPredictor(Predictor, Protocol):
    @property
    def classes_(self) -> NDArray[Any]: ...

    def predict_proba(self, x: NDArray[Any]) -> NDArray[Any]: ...


@dataclass(frozen=True, slots=True)
class HeldOutPredictions:
    """The model's predictions for the held-out rows, made once for the metrics and the report."""

    predicted: NDArray[Any]
    # Class probabilities (columns in `classes_` order) of a classifier; None for regression.
    probabilities: NDArray[Any] | None


def predict_held_out(task: str, model: ProbabilityPredictor, x: NDArray[Any]) -> HeldOutPredictions:
    """Labels and probabilities from one pass: a classifier's label is its most probable class."""
    if task != "classification" or not len(x):
        return HeldOutPredictions(model.predict(x), None)
    probabilities = model.predict_proba(x)
    return HeldOutPredictions(model.classes_[probabilities.argmax(axis=1)], probabilities)


def score_metric(task: str, y: NDArray[Any], predicted: NDArray[Any]) -> float:
    """The progress metric: accuracy for classification, RMSE for regression."""
    if task == "classification":
        return float(skm.accuracy_score(y, predicted))
    return math.sqrt(float(skm.mean_squared_error(y, predicted)))


def build_report(
    spec: TrainingSpec, fitted: FittedModel, predictions: HeldOutPredictions
) -> dict[str, Any]:
    """Everything the job's result shows besides the headline metrics."""
    x_val, y_val = fitted.x_validation, fitted.y_validation
    report: dict[str, Any] = {"history": list(fitted.history)}
    if not len(y_val):
        return report
    model = fitted.pipeline
    if spec.task == "classification" and fitted.classes:
        assert predictions.probabilities is not None
        labels = list(fitted.classes)
        matrix = skm.confusion_matrix(y_val, predictions.predicted, labels=labels)
        report["confusion_matrix"] = {"labels": labels, "matrix": matrix.tolist()}
        report["roc_curve"] = _roc_curves(labels, y_val, predictions.probabilities)
    names = [f.name for f in spec.features]
    if len(names) <= MAX_IMPORTANCE_FEATURES:
        report["feature_importance"] = permutation_importance(
            spec.task, model, names, x_val[:IMPORTANCE_ROWS], y_val[:IMPORTANCE_ROWS], spec.seed
        )
    return report


def _roc_curves(
    labels: list[str], y: NDArray[Any], probabilities: NDArray[Any]
) -> list[dict[str, Any]]:
    """One curve per positive class (just the second class for a binary target)."""
    positives = labels[1:] if len(labels) == 2 else labels
    curves = []
    for label in positives:
        truth = np.asarray([v == label for v in y.tolist()])
        if truth.all() or not truth.any():
            continue
        fpr, tpr, _ = skm.roc_curve(truth, probabilities[:, labels.index(label)])
        keep = np.unique(np.linspace(0, len(fpr) - 1, min(len(fpr), MAX_ROC_POINTS)).astype(int))
        curves.append(
            {
                "positive_class": label,
                "fpr": [round(float(v), 6) for v in fpr[keep]],
                "tpr": [round(float(v), 6) for v in tpr[keep]],
                "auc": float(skm.auc(fpr, tpr)),
            }
        )
    return curves


def permutation_importance(
    task: str,
    model: Predictor,
    names: list[str],
    x: NDArray[Any],
    y: NDArray[Any],
    seed: int,
) -> list[dict[str, Any]]:
    """How much the held-out score drops when one feature's values are shuffled, biggest first.

    The rows and every shuffled copy go to the model as one batch: one call, not one per feature.
    """
    rng = np.random.default_rng(seed)
    copies = [x]
    for i in range(len(names)):
        shuffled = x.copy()
        shuffled[:, i] = x[rng.permutation(len(x)), i]
        copies.append(shuffled)
    predicted = model.predict(np.concatenate(copies))

    def score(copy: int) -> float:
        part = predicted[copy * len(x) : (copy + 1) * len(x)]
        if task == "classification":
            return float(skm.accuracy_score(y, part))
        return -math.sqrt(float(skm.mean_squared_error(y, part)))

    baseline = score(0)
    importances = [
        {"feature": name, "importance": round(baseline - score(i + 1), 6)}
        for i, name in enumerate(names)
    ]
    return sorted(importances, key=lambda item: -item["importance"])
