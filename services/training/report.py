"""The result report of a training: confusion matrix, ROC curve, feature importance, history.

All plain JSON-able data, computed on the held-out rows in the training process.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from numpy.typing import NDArray
from sklearn import metrics as skm

if TYPE_CHECKING:
    from services.training.trainer import FittedModel, TrainingSpec

MAX_ROC_POINTS = 101
# Permutation importance costs one prediction per feature; beyond this many it is skipped.
MAX_IMPORTANCE_FEATURES = 200
# ...and it scores on at most this many held-out rows.
IMPORTANCE_ROWS = 1000


class Predictor(Protocol):
    def predict(self, x: NDArray[Any]) -> NDArray[Any]: ...


def score_metric(task: str, y: NDArray[Any], predicted: NDArray[Any]) -> float:
    """The progress metric: accuracy for classification, RMSE for regression."""
    if task == "classification":
        return float(skm.accuracy_score(y, predicted))
    return math.sqrt(float(skm.mean_squared_error(y, predicted)))


def build_report(spec: TrainingSpec, fitted: FittedModel) -> dict[str, Any]:
    """Everything the job's result shows besides the headline metrics."""
    x_val, y_val = fitted.x_validation, fitted.y_validation
    report: dict[str, Any] = {"history": list(fitted.history)}
    if not len(y_val):
        return report
    model = fitted.pipeline
    predicted = model.predict(x_val)
    if spec.task == "classification" and fitted.classes:
        labels = list(fitted.classes)
        matrix = skm.confusion_matrix(y_val, predicted, labels=labels)
        report["confusion_matrix"] = {"labels": labels, "matrix": matrix.tolist()}
        report["roc_curve"] = _roc_curves(labels, y_val, model.predict_proba(x_val))
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
    """How much the held-out score drops when one feature's values are shuffled, biggest first."""
    rng = np.random.default_rng(seed)

    def score(matrix: NDArray[Any]) -> float:
        predicted = model.predict(matrix)
        if task == "classification":
            return float(skm.accuracy_score(y, predicted))
        return -math.sqrt(float(skm.mean_squared_error(y, predicted)))

    baseline = score(x)
    importances = []
    for i, name in enumerate(names):
        shuffled = x.copy()
        shuffled[:, i] = x[rng.permutation(len(x)), i]
        importances.append({"feature": name, "importance": round(baseline - score(shuffled), 6)})
    return sorted(importances, key=lambda item: -item["importance"])
