"""Contract of the inference service (internal REST, under /internal/v1)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import Field

from proto.common import MAX_BATCH_IDS, Contract, Count, Ordinal
from proto.training import Task

ArtifactFormat = Literal["onnx", "torch-safetensors"]
FeatureType = Literal["number", "string"]
FeatureValue = float | int | str | bool | None

MAX_PREDICT_ROWS = 1000
ALIAS_PATTERN = r"^[a-z][a-z0-9_-]{0,63}$"
"""Alias names: lower case letters, digits, `-` and `_`, starting with a letter."""


class FeatureSpec(Contract):
    name: str
    type: FeatureType


class ModelVersionRegister(Contract):
    """The `metadata` part of POST /internal/v1/models/versions (multipart, with `artifact`).

    The owner is the acting user of the service token. A model with this name gets a new
    version; otherwise a model is created at version 1.
    """

    name: str = Field(min_length=1, max_length=200)
    task: Task
    format: ArtifactFormat
    features: list[FeatureSpec] = Field(min_length=1)
    classes: list[str] | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    training_job_id: UUID | None = None
    dataset_id: UUID | None = None
    dataset_version: Ordinal | None = None
    library_versions: dict[str, str] = Field(default_factory=dict)
    seed: Count | None = Field(default=None, description="the training's random seed")
    validation_split: float | None = Field(
        default=None, gt=0, lt=1, description="share of the rows held out to score the model"
    )


class ModelUpload(Contract):
    """The `metadata` part of a user's own ONNX model upload (multipart, with `artifact`).

    The BFF registers it as a version of format "onnx" of the user's model with this name.
    """

    name: str = Field(min_length=1, max_length=200)
    task: Task
    features: list[FeatureSpec] = Field(min_length=1)
    classes: list[str] | None = None
    metrics: dict[str, float] = Field(default_factory=dict)

    def to_register(self) -> ModelVersionRegister:
        """The registration the inference service gets for this upload."""
        return ModelVersionRegister(
            name=self.name,
            task=self.task,
            format="onnx",
            features=self.features,
            classes=self.classes,
            metrics=self.metrics,
        )


class AliasUpdate(Contract):
    """PUT /internal/v1/models/{id}/aliases/{alias}: point the alias at a version.

    Promoting and rolling back are both this: moving an alias such as `production`.
    """

    version: Ordinal


class ModelVersion(Contract):
    model_id: UUID
    version: int
    task: Task
    format: ArtifactFormat
    features: list[FeatureSpec]
    classes: list[str] | None = None
    metrics: dict[str, float]
    training_job_id: UUID | None = None
    # How the version was trained, so it can be reproduced (None for a user's own upload).
    dataset_id: UUID | None = None
    dataset_version: int | None = None
    seed: int | None = None
    validation_split: float | None = None
    library_versions: dict[str, str] = Field(default_factory=dict)
    created_at: datetime


class Model(Contract):
    id: UUID
    name: str
    owner_id: str
    task: Task
    latest_version: int
    aliases: dict[str, int]
    features: list[FeatureSpec]
    created_at: datetime
    updated_at: datetime


class ModelVersionKey(Contract):
    """One version of one model, as a batch read names it."""

    model_id: UUID
    version: Ordinal


class ModelVersionBatchRead(Contract):
    """POST /internal/v1/models/versions/batch: the versions to read at once (1-100); only
    the acting user's come back, the others are absent from the answer."""

    keys: list[ModelVersionKey] = Field(min_length=1, max_length=MAX_BATCH_IDS)


class ModelAlias(Contract):
    """One alias of a model and the version it points at: a `model_alias` entry of the change
    feed (the model's `aliases` holds the same)."""

    model_id: UUID
    alias: str
    version: int


class PredictRequest(Contract):
    """POST /internal/v1/models/{id}/predict.

    `version` or `alias`; by default the `production` alias, else the latest version.
    """

    rows: list[dict[str, FeatureValue]] = Field(min_length=1, max_length=MAX_PREDICT_ROWS)
    version: Ordinal | None = None
    alias: str | None = Field(default=None, min_length=1, max_length=64, pattern=ALIAS_PATTERN)


class Prediction(Contract):
    label: str | float
    probabilities: dict[str, float] | None = None
    confidence: float | None = None


class PredictResponse(Contract):
    model_id: UUID
    version: int
    predictions: list[Prediction]


# Kinds of this service's entries in its change feed (GET /internal/v1/feed); ids are
# "<model id>", "<model id>/<version>" and "<model id>/<alias>".
FEED_MODEL = "model"
FEED_MODEL_VERSION = "model_version"
FEED_MODEL_ALIAS = "model_alias"
