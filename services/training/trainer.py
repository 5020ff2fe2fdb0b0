"""Train one model from a Parquet file and export it as ONNX, in a worker process.

Everything in and out is plain data, so nothing is pickled but dataclasses of built-in types.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from numpy.typing import NDArray
from sklearn import metrics as skm
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from services.training.sklearn_models import (
    MISSING_STRING,
    SKLEARN_MODELS,
    build_estimator,
    build_pipeline,
)

FeatureType = Literal["number", "string"]
_LIBRARIES = ("scikit-learn", "skl2onnx", "onnx", "numpy", "pyarrow")


class TrainingError(Exception):
    """Training cannot go on for a reason the job's owner can act on; the message says which."""


class TrainingCancelled(Exception):
    """The owner cancelled the job while it trained."""


@dataclass(frozen=True, slots=True)
class FeatureColumn:
    name: str
    type: FeatureType


@dataclass(frozen=True, slots=True)
class TrainingSpec:
    """What to train; built from a job row by the worker."""

    task: Literal["classification", "regression"]
    model: str
    target: str
    features: tuple[FeatureColumn, ...]
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    validation_split: float = 0.2
    seed: int = 0
    threads: int = 1
    # When this file exists, the owner asked to stop: checked between stages.
    cancel_flag_path: str | None = None


@dataclass(frozen=True, slots=True)
class TrainingResult:
    metrics: dict[str, float]
    classes: list[str] | None
    features: list[FeatureColumn]
    library_versions: dict[str, str]
    train_rows: int
    validation_rows: int


@dataclass(frozen=True, slots=True)
class FittedModel:
    """A fitted pipeline and the held-out rows it was not fitted on (stays in this process)."""

    pipeline: Pipeline
    classes: list[str] | None
    x_validation: NDArray[Any]
    y_validation: NDArray[Any]
    train_rows: int


def train(spec: TrainingSpec, parquet_path: str, artifact_path: str) -> TrainingResult:
    """Fit `spec` on the Parquet file, score it on held-out rows, write ONNX to `artifact_path`."""
    with threadpool_limits(limits=spec.threads):
        fitted = fit_model(spec, parquet_path)
        _checkpoint(spec)
        metrics = _score(spec, fitted)
        export_onnx(spec, fitted.pipeline, Path(artifact_path))
    return TrainingResult(
        metrics=metrics,
        classes=fitted.classes,
        features=list(spec.features),
        library_versions={name: version(name) for name in _LIBRARIES},
        train_rows=fitted.train_rows,
        validation_rows=len(fitted.y_validation),
    )


def fit_model(spec: TrainingSpec, parquet_path: str) -> FittedModel:
    """Read the data, hold out the validation split, and fit the model's pipeline."""
    if spec.model not in SKLEARN_MODELS:
        raise TrainingError(f"model {spec.model!r} is not available")
    _checkpoint(spec)
    x, y = load_rows(spec, parquet_path)
    x_train, x_val, y_train, y_val = _split(spec, x, y)
    _checkpoint(spec)
    numeric = [i for i, f in enumerate(spec.features) if f.type == "number"]
    categorical = [i for i, f in enumerate(spec.features) if f.type == "string"]
    estimator = build_estimator(spec.model, spec.task, spec.hyperparameters, spec.seed)
    pipeline = build_pipeline(numeric, categorical, estimator)
    try:
        pipeline.fit(x_train, y_train)
    except ValueError as exc:
        raise TrainingError(f"the model could not be fitted: {exc}") from exc
    classes = [str(c) for c in pipeline.classes_] if spec.task == "classification" else None
    return FittedModel(pipeline, classes, x_val, y_val, len(y_train))


def _checkpoint(spec: TrainingSpec) -> None:
    if spec.cancel_flag_path and os.path.exists(spec.cancel_flag_path):
        raise TrainingCancelled("the job was cancelled")


def load_rows(spec: TrainingSpec, parquet_path: str) -> tuple[NDArray[Any], NDArray[Any]]:
    """Features as one object matrix (floats with NaN, strings with ""), and the target."""
    names = [spec.target, *(f.name for f in spec.features)]
    try:
        table = pq.read_table(parquet_path, columns=names)
    except (pa.ArrowInvalid, KeyError) as exc:
        raise TrainingError(f"the dataset could not be read: {exc}") from exc
    target = table.column(spec.target)
    table = table.filter(pc.is_valid(target))
    if table.num_rows < 2:
        raise TrainingError(f"target column {spec.target!r} has fewer than 2 rows with a value")
    columns = [
        _as_number(table, f.name) if f.type == "number" else _as_string(table, f.name)
        for f in spec.features
    ]
    x = np.empty((table.num_rows, len(columns)), dtype=object)
    for i, column in enumerate(columns):
        x[:, i] = column
    if spec.task == "classification":
        y: NDArray[Any] = np.asarray(_as_string(table, spec.target), dtype=object)
    else:
        y = _as_number(table, spec.target).astype(np.float64)
    return x, y


def _as_number(table: pa.Table, name: str) -> NDArray[np.float64]:
    try:
        floats = table.column(name).cast(pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise TrainingError(f"column {name!r} holds values that are not numbers") from exc
    # Round through float32, the ONNX input type, so the graph sees what the model saw.
    values = floats.to_numpy(zero_copy_only=False).astype(np.float32).astype(np.float64)
    return np.asarray(values, dtype=np.float64)


def _as_string(table: pa.Table, name: str) -> list[str]:
    column = table.column(name)
    if pa.types.is_floating(column.type):
        # 1.0 -> "1": whole-number floats read as the integers people wrote.
        values = [None if v is None else _format_float(v) for v in column.to_pylist()]
    else:
        values = column.cast(pa.string()).to_pylist()
    return [MISSING_STRING if v is None else str(v) for v in values]


def _format_float(value: float) -> str:
    return str(int(value)) if math.isfinite(value) and value.is_integer() else str(value)


def _split(
    spec: TrainingSpec, x: NDArray[Any], y: NDArray[Any]
) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any], NDArray[Any]]:
    stratify = y if spec.task == "classification" else None
    try:
        parts = train_test_split(
            x, y, test_size=spec.validation_split, random_state=spec.seed, stratify=stratify
        )
    except ValueError:
        # Too few members in some class to stratify, or too few rows for the split.
        try:
            parts = train_test_split(x, y, test_size=spec.validation_split, random_state=spec.seed)
        except ValueError as exc:
            raise TrainingError(f"too few rows to hold out a validation split: {exc}") from exc
    x_train, x_val, y_train, y_val = parts
    if spec.task == "classification" and len(set(y_train.tolist())) < 2:
        raise TrainingError(
            f"target column {spec.target!r} has only one class in the training split"
        )
    return x_train, x_val, y_train, y_val


def _score(spec: TrainingSpec, fitted: FittedModel) -> dict[str, float]:
    pipeline, classes = fitted.pipeline, fitted.classes
    x_val, y_val = fitted.x_validation, fitted.y_validation
    predicted = pipeline.predict(x_val)
    if spec.task == "regression":
        values = {
            "mae": skm.mean_absolute_error(y_val, predicted),
            "rmse": math.sqrt(skm.mean_squared_error(y_val, predicted)),
        }
        if len(y_val) >= 2:
            values["r2"] = skm.r2_score(y_val, predicted)
        return _finite(values)
    assert classes is not None
    binary = len(classes) == 2
    averaging: dict[str, Any] = (
        {"average": "binary", "pos_label": classes[1]} if binary else {"average": "macro"}
    )
    values = {
        "accuracy": skm.accuracy_score(y_val, predicted),
        "precision": skm.precision_score(y_val, predicted, zero_division=0, **averaging),
        "recall": skm.recall_score(y_val, predicted, zero_division=0, **averaging),
        "f1": skm.f1_score(y_val, predicted, zero_division=0, **averaging),
    }
    if set(y_val.tolist()) == set(classes):  # ROC AUC needs every class in the held-out rows
        probabilities = pipeline.predict_proba(x_val)
        if binary:
            values["roc_auc"] = skm.roc_auc_score(y_val == classes[1], probabilities[:, 1])
        else:
            values["roc_auc"] = skm.roc_auc_score(
                y_val, probabilities, multi_class="ovr", labels=classes
            )
    return _finite(values)


def _finite(values: dict[str, Any]) -> dict[str, float]:
    return {name: float(v) for name, v in values.items() if math.isfinite(float(v))}


def export_onnx(spec: TrainingSpec, pipeline: Pipeline, path: Path) -> None:
    """One input per feature ([None, 1], float or string); labels as strings, no ZipMap."""
    from skl2onnx import to_onnx  # heavy: only training processes import it
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    inputs = [
        (f.name, FloatTensorType([None, 1]) if f.type == "number" else StringTensorType([None, 1]))
        for f in spec.features
    ]
    options = {"zipmap": False} if spec.task == "classification" else None
    onnx_model = to_onnx(
        pipeline, initial_types=inputs, options={id(pipeline): options} if options else None
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(onnx_model.SerializeToString())
