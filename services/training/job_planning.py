"""Turn a TrainingJobCreate into a runnable plan, checked against the dataset version's columns.

Everything a person can fix is refused here, before the job is queued.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from proto.datasets import ColumnSchema, DatasetVersion
from proto.training import ModelKind, Task, TrainingJobCreate
from services.kit.errors import invalid_input
from services.training.settings import TrainingSettings
from services.training.sklearn_models import (
    MODEL_TASKS,
    SKLEARN_MODELS,
    HyperparameterError,
    check_hyperparameters,
)
from services.training.training_run import FeatureType

NUMERIC_TYPES = frozenset({"integer", "number"})
_FEATURE_TYPES: dict[str, FeatureType] = {
    "integer": "number",
    "number": "number",
    "boolean": "string",
    "string": "string",
}
_DEFAULT_MODEL: dict[str, ModelKind] = {
    "classification": "logistic_regression",
    "regression": "linear_regression",
}


@dataclass(frozen=True, slots=True)
class JobPlan:
    """A checked job, ready to be stored as queued."""

    dataset_version: int
    target: str
    features: list[str]
    column_types: dict[str, str]
    task: Task
    model: ModelKind
    model_name: str
    hyperparameters: dict[str, Any]


def plan_job(
    request: TrainingJobCreate, version: DatasetVersion, settings: TrainingSettings
) -> JobPlan:
    """The plan for `request` on `version`; 422 with a code naming the first problem found."""
    columns = {column.name: column for column in version.columns}
    features = _features(request, columns)
    target = columns[request.target]
    _check_rows(version, target, settings)
    task = request.task or infer_task(target, labelled_rows(version, target), settings)
    _check_target(target, task)
    model = _model(request, task)
    try:
        hyperparameters = check_hyperparameters(model, task, request.hyperparameters)
    except HyperparameterError as exc:
        raise invalid_input("INVALID_HYPERPARAMETERS", str(exc)) from exc
    return JobPlan(
        dataset_version=version.version,
        target=request.target,
        features=features,
        column_types={name: _FEATURE_TYPES[columns[name].type] for name in features}
        | {request.target: target.type},
        task=task,
        model=model,
        model_name=request.model_name or f"{request.target} ({model})"[:200],
        hyperparameters=hyperparameters,
    )


def infer_task(target: ColumnSchema, row_count: int, settings: TrainingSettings) -> Task:
    """Regression for a numeric target with many distinct values, else classification."""
    many = min(settings.classification_max_distinct, max(2, row_count // 2))
    if target.type in NUMERIC_TYPES and target.distinct_estimate > many:
        return "regression"
    return "classification"


def _features(request: TrainingJobCreate, columns: dict[str, ColumnSchema]) -> list[str]:
    requested = request.features
    unknown = [name for name in [request.target, *(requested or [])] if name not in columns]
    if unknown:
        names = ", ".join(repr(name) for name in dict.fromkeys(unknown))
        raise invalid_input(
            "UNKNOWN_COLUMNS",
            f"the dataset has no column named {names}",
            columns=list(dict.fromkeys(unknown)),
            available=sorted(columns),
        )
    if requested is None:
        features = [
            name
            for name, column in columns.items()
            if name != request.target and column.type in _FEATURE_TYPES
        ]
    else:
        features = requested
        duplicates = sorted({name for name in features if features.count(name) > 1})
        if duplicates:
            raise invalid_input(
                "DUPLICATE_FEATURES", f"features listed twice: {', '.join(duplicates)}"
            )
        if request.target in features:
            raise invalid_input(
                "TARGET_IN_FEATURES", f"the target {request.target!r} cannot also be a feature"
            )
        unsupported = [name for name in features if columns[name].type not in _FEATURE_TYPES]
        if unsupported:
            raise invalid_input(
                "UNSUPPORTED_FEATURE_TYPE",
                f"these columns cannot be features (dates are not supported yet): "
                f"{', '.join(unsupported)}",
                columns=unsupported,
            )
    if not features:
        raise invalid_input("NO_FEATURES", "there is no column left to learn from")
    return features


def labelled_rows(version: DatasetVersion, target: ColumnSchema) -> int:
    """Rows with a value in the target: the only ones training can learn from."""
    return max(0, version.row_count - target.nulls)


def _check_rows(version: DatasetVersion, target: ColumnSchema, settings: TrainingSettings) -> None:
    labelled = labelled_rows(version, target)
    if labelled < settings.min_rows:
        if labelled == version.row_count:
            message = f"the dataset has {version.row_count} rows"
        else:
            message = (
                f"only {labelled} of the dataset's {version.row_count} rows have a value in "
                f"the target {target.name!r}"
            )
        raise invalid_input(
            "TOO_FEW_ROWS",
            f"{message}; training needs at least {settings.min_rows}",
            rows=version.row_count,
            labelled_rows=labelled,
            minimum=settings.min_rows,
        )
    if version.row_count > settings.max_rows:
        raise invalid_input(
            "DATASET_TOO_LARGE",
            f"the dataset has {version.row_count} rows; training takes at most {settings.max_rows}",
            rows=version.row_count,
            maximum=settings.max_rows,
        )


def _check_target(target: ColumnSchema, task: Task) -> None:
    if target.type == "datetime":
        raise invalid_input(
            "UNSUPPORTED_TARGET_TYPE",
            f"the target {target.name!r} holds dates, which cannot be learned yet",
        )
    if task == "regression" and target.type not in NUMERIC_TYPES:
        raise invalid_input(
            "TARGET_NOT_NUMERIC",
            f"regression needs a numeric target; {target.name!r} holds {target.type} values",
        )
    if task == "classification" and target.distinct_estimate < 2:
        raise invalid_input(
            "SINGLE_CLASS_TARGET",
            f"the target {target.name!r} has only one distinct value; classification needs two",
        )


def _model(request: TrainingJobCreate, task: Task) -> ModelKind:
    model: ModelKind = (
        request.model if "model" in request.model_fields_set else _DEFAULT_MODEL[task]
    )
    if model not in SKLEARN_MODELS and model != "mlp":
        raise invalid_input(
            "MODEL_NOT_AVAILABLE",
            f"the {model!r} model is not available yet; choose one of "
            f"{', '.join(sorted(SKLEARN_MODELS))}",
        )
    if task not in MODEL_TASKS[model]:
        raise invalid_input(
            "MODEL_TASK_MISMATCH",
            f"{model} does not do {task}; choose "
            f"{'linear_regression' if task == 'regression' else 'logistic_regression'} "
            "or another model that does",
        )
    return model
