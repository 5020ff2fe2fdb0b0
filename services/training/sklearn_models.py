"""The scikit-learn models a job may ask for, their allowed hyperparameters and preprocessing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

SKLEARN_MODELS = frozenset(
    {"logistic_regression", "linear_regression", "random_forest", "gradient_boosting"}
)
# Which task each model can do; the others do both.
MODEL_TASKS: dict[str, frozenset[str]] = {
    "logistic_regression": frozenset({"classification"}),
    "linear_regression": frozenset({"regression"}),
    "random_forest": frozenset({"classification", "regression"}),
    "gradient_boosting": frozenset({"classification", "regression"}),
    "mlp": frozenset({"classification", "regression"}),
}
# Missing strings reach the ONNX graph as "" (string tensors have no NaN).
MISSING_STRING = ""


class HyperparameterError(ValueError):
    """A hyperparameter the caller can fix: unknown name, wrong type or out of range."""


@dataclass(frozen=True, slots=True)
class _Param:
    kind: type
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] = ()
    nullable: bool = False
    # For a list of ints: its most items; low/high bound each item.
    length: int = 0


_CLASS_WEIGHT = _Param(str, choices=("balanced",), nullable=True)

HYPERPARAMETERS: dict[str, dict[str, _Param]] = {
    "logistic_regression": {
        "C": _Param(float, 1e-6, 1e6),
        "max_iter": _Param(int, 1, 10_000),
        "class_weight": _CLASS_WEIGHT,
    },
    "linear_regression": {"fit_intercept": _Param(bool)},
    "random_forest": {
        "n_estimators": _Param(int, 1, 500),
        "max_depth": _Param(int, 1, 64, nullable=True),
        "min_samples_leaf": _Param(int, 1, 10_000),
        "class_weight": _CLASS_WEIGHT,
    },
    "gradient_boosting": {
        "n_estimators": _Param(int, 1, 1000),
        "learning_rate": _Param(float, 1e-4, 1.0),
        "max_depth": _Param(int, 1, 16),
        "subsample": _Param(float, 0.05, 1.0),
    },
    # The PyTorch MLP (services.training.torch_models); hidden_layers: sizes, input to output.
    "mlp": {
        "hidden_layers": _Param(list, 1, 4096, length=16),
        "epochs": _Param(int, 1, 1000),
        "batch_size": _Param(int, 1, 65_536),
        "learning_rate": _Param(float, 1e-6, 1.0),
        "patience": _Param(int, 1, 1000),
        "dropout": _Param(float, 0.0, 0.9),
        "weight_decay": _Param(float, 0.0, 1.0),
    },
}


def check_hyperparameters(model: str, task: str, values: dict[str, Any]) -> dict[str, Any]:
    """The hyperparameters, checked against the model's allow-list; HyperparameterError if not."""
    allowed = HYPERPARAMETERS.get(model, {})
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        names = ", ".join(sorted(allowed)) or "none"
        raise HyperparameterError(
            f"unknown hyperparameters for {model}: {', '.join(unknown)} (allowed: {names})"
        )
    checked: dict[str, Any] = {}
    for name, value in values.items():
        checked[name] = _check_one(name, allowed[name], value)
    if task == "regression" and "class_weight" in checked:
        raise HyperparameterError("class_weight only applies to classification")
    return checked


def _check_one(name: str, spec: _Param, value: Any) -> Any:
    if value is None:
        if spec.nullable:
            return None
        raise HyperparameterError(f"hyperparameter {name} may not be null")
    if spec.kind is bool:
        if not isinstance(value, bool):
            raise HyperparameterError(f"hyperparameter {name} must be true or false")
        return value
    if spec.kind is list:
        return _check_int_list(name, spec, value)
    if spec.choices:
        if value not in spec.choices:
            raise HyperparameterError(f"hyperparameter {name} must be one of {list(spec.choices)}")
        return value
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    if not numeric or (spec.kind is int and float(value) != int(value)):
        raise HyperparameterError(f"hyperparameter {name} must be a {spec.kind.__name__}")
    number = spec.kind(value)
    if (spec.low is not None and number < spec.low) or (
        spec.high is not None and number > spec.high
    ):
        raise HyperparameterError(
            f"hyperparameter {name} must be between {spec.low} and {spec.high}"
        )
    return number


def build_estimator(model: str, task: str, params: dict[str, Any], seed: int) -> BaseEstimator:
    """The bare estimator of one model kind for one task (single-threaded)."""
    classify = task == "classification"
    params = dict(params)
    if model == "logistic_regression":
        max_iter = params.pop("max_iter", 1000)
        return LogisticRegression(max_iter=max_iter, random_state=seed, **params)
    if model == "linear_regression":
        return LinearRegression(**params)
    if model == "random_forest":
        forest = RandomForestClassifier if classify else RandomForestRegressor
        return forest(n_jobs=1, random_state=seed, **{"n_estimators": 100, **params})
    if model == "gradient_boosting":
        boosting = GradientBoostingClassifier if classify else GradientBoostingRegressor
        return boosting(random_state=seed, **params)
    raise ValueError(f"not a scikit-learn model: {model}")


def build_pipeline(
    numeric: Sequence[int], categorical: Sequence[int], estimator: BaseEstimator
) -> Pipeline:
    """Imputation and one-hot encoding in front of the estimator, all exportable to ONNX."""
    transformers: list[tuple[str, Any, list[int]]] = []
    if numeric:
        imputer = SimpleImputer(strategy="median", keep_empty_features=True)
        transformers.append(("number", imputer, list(numeric)))
    if categorical:
        strings = Pipeline(
            [
                (
                    "impute",
                    SimpleImputer(
                        missing_values=MISSING_STRING,
                        strategy="most_frequent",
                        keep_empty_features=True,
                    ),
                ),
                ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
            ]
        )
        transformers.append(("string", strings, list(categorical)))
    columns = ColumnTransformer(transformers, sparse_threshold=0.0)
    return Pipeline([("columns", columns), ("model", estimator)])


def _check_int_list(name: str, spec: _Param, value: Any) -> list[int]:
    items_ok = isinstance(value, list) and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    )
    if not items_ok or len(value) > spec.length:
        raise HyperparameterError(
            f"hyperparameter {name} must be a list of at most {spec.length} integers"
        )
    if any(v < (spec.low or 0) or v > (spec.high or v) for v in value):
        raise HyperparameterError(
            f"hyperparameter {name} items must be between {spec.low:g} and {spec.high:g}"
        )
    return list(value)
