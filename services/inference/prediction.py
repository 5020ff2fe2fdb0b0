"""Rows in, predictions out: checking rows against a model's features and running its session."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from proto.inference import FeatureSpec, FeatureValue, Prediction
from services.inference.model_cache import LoadedModel
from services.inference.onnx_artifacts import feature_columns

Row = Mapping[str, FeatureValue]
_MAX_PROBLEMS = 100
# Models compute in 32-bit floats: a number past this becomes infinity inside the graph, and
# the answer NaN.
FLOAT32_MAX = float(np.finfo(np.float32).max)


@dataclass(frozen=True, slots=True)
class RowProblem:
    """One bad value in one row."""

    row: int
    feature: str
    problem: str

    def describe(self) -> str:
        return f"row {self.row}: feature {self.feature!r} {self.problem}"


def find_row_problems(
    rows: Sequence[Row], features: Sequence[FeatureSpec], max_string_chars: int
) -> list[RowProblem]:
    """Missing, unexpected and wrongly typed features, row by row (at most 100 listed)."""
    kinds = {spec.name: spec.type for spec in features}
    problems: list[RowProblem] = []
    for index, row in enumerate(rows):
        for name, kind in kinds.items():
            if name not in row:
                problems.append(RowProblem(index, name, "is missing"))
                continue
            problem = _value_problem(row[name], kind, max_string_chars)
            if problem:
                problems.append(RowProblem(index, name, problem))
        problems.extend(
            RowProblem(index, name, "is not a feature of this model")
            for name in row
            if name not in kinds
        )
        if len(problems) >= _MAX_PROBLEMS:
            return problems[:_MAX_PROBLEMS]
    return problems


def _value_problem(value: FeatureValue, kind: str, max_string_chars: int) -> str | None:
    if value is None:
        return None  # imputed inside the graph
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"must be a number, got {_json_type(value)}"
        if isinstance(value, float) and not math.isfinite(value):
            return "must be a finite number"
        if not _fits_float32(value):
            return f"must be between {-FLOAT32_MAX:.7g} and {FLOAT32_MAX:.7g}"
        return None
    if not isinstance(value, str):
        return f"must be a string, got {_json_type(value)}"
    if len(value) > max_string_chars:
        return f"is longer than {max_string_chars} characters"
    return None


def _fits_float32(value: int | float) -> bool:
    try:
        return abs(float(value)) <= FLOAT32_MAX
    except OverflowError:  # an int past float64's range
        return False


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return type(value).__name__


def build_inputs(rows: Sequence[Row], features: Sequence[FeatureSpec]) -> dict[str, NDArray[Any]]:
    """One [N, 1] array per feature: float32 (None -> NaN) or object str (None -> "")."""
    return feature_columns(rows, features)


def run_model(model: LoadedModel, rows: Sequence[Row]) -> list[Prediction]:
    """Predictions for checked rows (blocking: call it on the inference thread pool)."""
    labels, probabilities = model.runner.run(rows)
    if probabilities is None:
        return [Prediction(label=float(v)) for v in labels]
    classes = model.classes or tuple(str(i) for i in range(probabilities.shape[1]))
    predictions: list[Prediction] = []
    for label, row_probabilities in zip(labels, probabilities.tolist(), strict=True):
        by_class = dict(zip(classes, row_probabilities, strict=True))
        predictions.append(
            Prediction(label=str(label), probabilities=by_class, confidence=max(row_probabilities))
        )
    return predictions


def rows_without_an_answer(predictions: Sequence[Prediction]) -> list[int]:
    """The rows whose prediction is not a finite number (values in range can still overflow
    inside a model: 1e38 times a weight of 10); such a row has no answer to give."""
    bad = []
    for index, prediction in enumerate(predictions):
        numbers = [prediction.label] if isinstance(prediction.label, float) else []
        numbers += (prediction.probabilities or {}).values()
        if prediction.confidence is not None:
            numbers.append(prediction.confidence)
        if not all(math.isfinite(number) for number in numbers):
            bad.append(index)
    return bad
