"""Small real scikit-learn pipelines exported to ONNX as training does (the artifact convention).

The frame is a numpy object array whose columns follow the feature list; the ColumnTransformer
selects columns by index, and skl2onnx maps index i to the i-th [None, 1] input, so each ONNX
input is named exactly as its feature.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType, StringTensorType
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

FeatureKind = Literal["number", "string"]
Features = dict[str, FeatureKind]

SAMPLE_FEATURES: Features = {"age": "number", "income": "number", "city": "string"}


@dataclass(frozen=True)
class TrainedModel:
    """A fitted pipeline, its ONNX bytes, the registration metadata and held-out rows."""

    pipeline: Pipeline
    onnx_bytes: bytes
    features: Features
    task: Literal["classification", "regression"]
    classes: list[str] | None
    held_out: list[dict[str, Any]]

    def feature_specs(self) -> list[dict[str, str]]:
        """The `features` of a ModelVersionRegister."""
        return [{"name": name, "type": kind} for name, kind in self.features.items()]

    def register_metadata(self, name: str, **extra: Any) -> dict[str, Any]:
        """A ModelVersionRegister body for this model."""
        return {
            "name": name,
            "task": self.task,
            "format": "onnx",
            "features": self.feature_specs(),
            "classes": self.classes,
            **extra,
        }


def build_pipeline(features: Features, estimator: Any) -> Pipeline:
    """Imputation (and one-hot for strings) per column, then the estimator."""
    numbers = [i for i, kind in enumerate(features.values()) if kind == "number"]
    strings = [i for i, kind in enumerate(features.values()) if kind == "string"]
    transformers: list[tuple[str, Any, list[int]]] = []
    if numbers:
        transformers.append(("numbers", SimpleImputer(strategy="median"), numbers))
    if strings:
        encode = Pipeline(
            [
                # Inference sends "" for a missing string; skl2onnx needs a string marker here.
                (
                    "impute",
                    SimpleImputer(missing_values="", strategy="constant", fill_value="__missing__"),
                ),
                ("onehot", OneHotEncoder(handle_unknown="ignore")),
            ]
        )
        transformers.append(("strings", encode, strings))
    return Pipeline([("preprocess", ColumnTransformer(transformers)), ("model", estimator)])


def export_onnx(pipeline: Pipeline, features: Features) -> bytes:
    """One [None, 1] input per feature, named as the feature; zipmap off for classifiers."""
    initial_types: list[tuple[str, Any]] = [
        (name, FloatTensorType([None, 1]) if kind == "number" else StringTensorType([None, 1]))
        for name, kind in features.items()
    ]
    options: dict[Any, Any] = {}
    if hasattr(pipeline.steps[-1][1], "predict_proba"):
        options[id(pipeline.steps[-1][1])] = {"zipmap": False}
    onx = to_onnx(pipeline, initial_types=initial_types, options=options)
    return bytes(onx.SerializeToString())


def to_matrix(rows: list[dict[str, Any]], features: Features) -> NDArray[Any]:
    """Rows as the object matrix the pipeline was fitted on (NaN / "" where a value is None)."""
    matrix = np.empty((len(rows), len(features)), dtype=object)
    for i, row in enumerate(rows):
        for j, (name, kind) in enumerate(features.items()):
            value = row.get(name)
            if kind == "number":
                matrix[i, j] = np.float32(np.nan if value is None else value)
            else:
                matrix[i, j] = "" if value is None else str(value)
    return matrix


def sample_rows(count: int, seed: int) -> list[dict[str, Any]]:
    """Rows with a learnable label and level, and some values missing."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    for _ in range(count):
        age = round(float(rng.uniform(18, 80)), 1)
        income = round(float(rng.normal(50, 15)), 2)
        city = str(rng.choice(["paris", "lyon", "nice"]))
        score = 0.05 * (age - 45) + 0.04 * (income - 50) + (0.8 if city == "paris" else -0.4)
        level = 3.0 * age + 2.0 * income + (10.0 if city == "nice" else 0.0) + rng.normal(0, 1)
        rows.append(
            {
                "age": None if rng.random() < 0.08 else age,
                "income": income,
                "city": None if rng.random() < 0.08 else city,
                "label": "yes" if score + rng.normal(0, 0.5) > 0.3 else "no",
                "level": float(level),
            }
        )
    return rows


def only_features(rows: list[dict[str, Any]], features: Features) -> list[dict[str, Any]]:
    """The rows as a client sends them to predict: the features and nothing else."""
    return [{name: row[name] for name in features} for row in rows]


def train_classifier(features: Features = SAMPLE_FEATURES, seed: int = 0) -> TrainedModel:
    """A logistic regression; the target is cast to str before fitting, as training does."""
    rows = sample_rows(200, seed)
    train, held_out = rows[:150], rows[150:]
    pipeline = build_pipeline(features, LogisticRegression(max_iter=1000))
    pipeline.fit(to_matrix(train, features), np.array([str(r["label"]) for r in train]))
    return TrainedModel(
        pipeline=pipeline,
        onnx_bytes=export_onnx(pipeline, features),
        features=dict(features),
        task="classification",
        classes=[str(c) for c in pipeline.classes_],
        held_out=only_features(held_out, features),
    )


def train_regressor(features: Features = SAMPLE_FEATURES, seed: int = 0) -> TrainedModel:
    """A linear regression on the same kind of rows."""
    rows = sample_rows(200, seed)
    train, held_out = rows[:150], rows[150:]
    pipeline = build_pipeline(features, LinearRegression())
    pipeline.fit(to_matrix(train, features), np.array([r["level"] for r in train]))
    return TrainedModel(
        pipeline=pipeline,
        onnx_bytes=export_onnx(pipeline, features),
        features=dict(features),
        task="regression",
        classes=None,
        held_out=only_features(held_out, features),
    )
