"""Train one model from a Parquet file and export it as ONNX, in a worker process.

Everything in and out is plain data, so nothing is pickled but dataclasses of built-in types.
"""

from __future__ import annotations

import functools
import math
import os
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from numpy.typing import NDArray
from sklearn import metrics as skm
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from proto.inference import ArtifactFormat
from services.training.cpu_budget import capped_threads
from services.training.progress import ProgressLog
from services.training.report import HeldOutPredictions, build_report, predict_held_out
from services.training.sklearn_models import (
    MISSING_STRING,
    SKLEARN_MODELS,
    build_estimator,
    build_pipeline,
)
from services.training.sklearn_progress import STAGED_MODELS, fit_in_stages, single_fit_step
from services.training.training_run import (
    FittedModel,
    ReportResult,
    TrainingResult,
    TrainingSpec,
)

if TYPE_CHECKING:
    pass

_LIBRARIES = ("scikit-learn", "skl2onnx", "onnx", "numpy", "pyarrow")
_TORCH_LIBRARIES = ("torch", "safetensors", "numpy", "pyarrow")


class TrainingError(Exception):
    """Training cannot go on for a reason the job's owner can act on; the message says which."""


class TrainingCancelled(Exception):
    """The owner cancelled the job while it trained."""


def train(spec: TrainingSpec, parquet_path: str, artifact_path: str) -> TrainingResult:
    """Fit `spec` on the Parquet file, score it on held-out rows, write the artifact: what a
    job needs to succeed. The report (`report_for`) comes after, in this process's next task.

    scikit-learn models are written as ONNX, the MLP as torch-safetensors (proto.torch_artifact).
    The fitted model stays in this process for `report_for` (one at a time: the last job's).
    """
    global _kept
    _kept = None  # a previous job's model whose report never came
    progress = ProgressLog(spec.progress_path)
    clock = _StepClock()
    with threadpool_limits(limits=capped_threads(spec.threads)):
        fitted = fit_model(spec, parquet_path, progress)
        clock.lap("fit")
        _checkpoint(spec)
        predictions = predict_held_out(spec.task, fitted.pipeline, fitted.x_validation)
        metrics = _score(spec, fitted, predictions)
        clock.lap("score")
        path = Path(artifact_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if not isinstance(fitted.pipeline, Pipeline):
            path.write_bytes(fitted.pipeline.artifact())
            artifact_format: ArtifactFormat = "torch-safetensors"
        else:
            export_onnx(spec, fitted.pipeline, path)
            artifact_format = "onnx"
        clock.lap("export")
    _kept = _Kept(spec, parquet_path, fitted, predictions)
    return TrainingResult(
        metrics=metrics,
        classes=fitted.classes,
        features=list(spec.features),
        library_versions=dict(_library_versions(spec.model == "mlp")),
        train_rows=fitted.train_rows,
        validation_rows=len(fitted.y_validation),
        artifact_format=artifact_format,
        report={"history": list(fitted.history)},
        step_ms=clock.laps,
    )


@dataclass(frozen=True, slots=True)
class _Kept:
    """The model `train` fitted last in this process, kept for its report."""

    spec: TrainingSpec
    parquet_path: str
    fitted: FittedModel
    predictions: HeldOutPredictions


_kept: _Kept | None = None


def report_for(spec: TrainingSpec, parquet_path: str) -> ReportResult:
    """The report of the job `spec` describes: from the model `train` just fitted in this
    process, or, when this process does not hold it (it was replaced, the service restarted),
    from the same fit again (same data, split, seed and hyperparameters)."""
    global _kept
    kept, _kept = _kept, None
    started = time.perf_counter()
    with threadpool_limits(limits=capped_threads(spec.threads)):
        refitted = kept is None or kept.spec != spec or kept.parquet_path != parquet_path
        if refitted:
            fitted = fit_model(spec, parquet_path)
            predictions = predict_held_out(spec.task, fitted.pipeline, fitted.x_validation)
        else:
            assert kept is not None
            fitted, predictions = kept.fitted, kept.predictions
        report = build_report(spec, fitted, predictions)
    return ReportResult(report, refitted, round((time.perf_counter() - started) * 1000, 1))


class _StepClock:
    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round((now - self._last) * 1000, 1)
        self._last = now


@functools.cache
def _library_versions(torch_model: bool) -> dict[str, str]:
    """Installed versions (package metadata is read once per process, not once per job)."""
    return {name: version(name) for name in (_TORCH_LIBRARIES if torch_model else _LIBRARIES)}


def fit_model(
    spec: TrainingSpec, parquet_path: str, progress: ProgressLog | None = None
) -> FittedModel:
    """Read the data, hold out the validation split, and fit the model's pipeline."""
    if spec.model not in SKLEARN_MODELS and spec.model != "mlp":
        raise TrainingError(f"model {spec.model!r} is not available")
    progress = progress or ProgressLog(None)
    _checkpoint(spec)
    x, y = load_rows(spec, parquet_path)
    x_train, x_val, y_train, y_val = _split(spec, x, y)
    _checkpoint(spec)
    if spec.model == "mlp":
        from services.training.torch_models import fit_mlp  # torch loads only for MLP jobs

        model = fit_mlp(
            spec.task,
            [(f.name, f.type) for f in spec.features],
            (x_train, x_val, y_train, y_val),
            spec.hyperparameters,
            spec.seed,
            spec.threads,
            between_epochs=lambda: _checkpoint(spec),
            progress=progress.write,
        )
        classes = list(model.architecture.classes) if model.architecture.classes else None
        return FittedModel(model, classes, x_val, y_val, len(y_train), model.history)
    numeric = [i for i, f in enumerate(spec.features) if f.type == "number"]
    categorical = [i for i, f in enumerate(spec.features) if f.type == "string"]
    estimator = build_estimator(spec.model, spec.task, spec.hyperparameters, spec.seed)
    pipeline = build_pipeline(numeric, categorical, estimator)
    data = (x_train, x_val, y_train, y_val)
    try:
        if spec.model in STAGED_MODELS:
            history = fit_in_stages(
                spec.task, pipeline, data, progress.write, lambda: _checkpoint(spec)
            )
        else:
            started = time.monotonic()
            pipeline.fit(x_train, y_train)
            history = [single_fit_step(spec.task, pipeline, data, started)]
            progress.write(history[0])
    except ValueError as exc:
        raise TrainingError(f"the model could not be fitted: {exc}") from exc
    classes = [str(c) for c in pipeline.classes_] if spec.task == "classification" else None
    return FittedModel(pipeline, classes, x_val, y_val, len(y_train), history)


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


def _score(
    spec: TrainingSpec, fitted: FittedModel, predictions: HeldOutPredictions
) -> dict[str, float]:
    classes, y_val = fitted.classes, fitted.y_validation
    predicted = predictions.predicted
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
    # One call for the three (precision_score & co. each call it and check the input again).
    precision, recall, f1, _ = skm.precision_recall_fscore_support(
        y_val, predicted, zero_division=0, **averaging
    )
    values = {
        "accuracy": skm.accuracy_score(y_val, predicted),
        "precision": precision,
        "recall": recall,
        "f1": f1,
    }
    if set(y_val.tolist()) == set(classes):  # ROC AUC needs every class in the held-out rows
        probabilities = predictions.probabilities
        assert probabilities is not None
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
    # Heavy: only training processes import these.
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    from services.training import onnx_conversion

    inputs = [
        (f.name, FloatTensorType([None, 1]) if f.type == "number" else StringTensorType([None, 1]))
        for f in spec.features
    ]
    # Classifiers come out without ZipMap (the custom parser), as `{"zipmap": False}` would.
    deferred: onnx_conversion.DeferredAttributes = {}
    onnx_model = convert_sklearn(
        pipeline,
        name=f"ONNX({type(pipeline).__name__})",
        initial_types=inputs,
        custom_parsers=onnx_conversion.custom_parsers(),
        custom_conversion_functions=onnx_conversion.custom_converters(deferred),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(onnx_conversion.serialized_with_deferred_attributes(onnx_model, deferred))
