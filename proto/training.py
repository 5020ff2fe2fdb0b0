"""Contract of the training service (internal REST, under /internal/v1)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import Field

from proto.common import Contract

Task = Literal["classification", "regression"]
ModelKind = Literal[
    "logistic_regression", "linear_regression", "random_forest", "gradient_boosting", "mlp"
]
JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]


class TrainingJobCreate(Contract):
    """POST /internal/v1/jobs: train a model on one dataset version."""

    dataset_id: UUID
    dataset_version: int | None = Field(default=None, ge=1, description="default: latest")
    target: str = Field(min_length=1, max_length=200)
    features: list[str] | None = Field(default=None, max_length=1000)
    task: Task | None = None
    model: ModelKind = "logistic_regression"
    model_name: str | None = Field(default=None, min_length=1, max_length=200)
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    validation_split: float = Field(default=0.2, gt=0, lt=0.9)
    # What numpy, scikit-learn and torch all take as a seed.
    seed: int = Field(default=0, ge=0, le=2**32 - 1)


class TrainingJob(Contract):
    """A training job and, once it succeeded, its metrics and the model version it made."""

    id: UUID
    owner_id: str
    status: JobStatus
    dataset_id: UUID
    dataset_version: int
    target: str
    features: list[str]
    task: Task
    model: ModelKind
    model_name: str
    hyperparameters: dict[str, Any]
    validation_split: float
    seed: int
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None
    metrics: dict[str, float] | None = None
    model_id: UUID | None = None
    model_version: int | None = None
    result: dict[str, Any] | None = Field(
        default=None,
        description="on success, in GET /jobs/{id} only (lists leave it out): "
        "artifact_format, classes, train_rows, validation_rows, library_versions, "
        "history (one progress step per epoch); once `report_ready_at` is set, also "
        "confusion_matrix {labels, matrix}, roc_curve [{positive_class, fpr, tpr, auc}] and "
        "feature_importance [{feature, importance}] (or report_error, when it could not be "
        "computed)",
    )
    report_ready_at: datetime | None = Field(
        default=None,
        description="when the report joined `result`. A job is `succeeded` as soon as its "
        "model is registered (it can predict; `metrics` are final); the report is computed "
        "after, in seconds, and its arrival is a change of the job like any other (feed, "
        "sync). Null before, and for jobs that did not succeed",
    )


class TrainingProgress(Contract):
    """One progress step, the data of an SSE `progress` event (its id is `seq`).

    `metric` is accuracy for classification and RMSE (target units) for regression.
    """

    seq: int
    attempt: int
    epoch: float | None = None
    loss: float | None = None
    val_loss: float | None = None
    metric: float | None = None
    val_metric: float | None = None
    eta_s: float | None = None
    created_at: datetime


# The kind of this service's entries in its change feed (GET /internal/v1/feed).
FEED_TRAINING_JOB = "training_job"


# The most a queue count answers exactly: past it, `counts_at_least` is true.
MAX_QUEUE_COUNT = 100_000
QueueStatus = Literal["queued", "running"]


class JobQueue(Contract):
    """GET /internal/v1/queue?status=&cursor=&limit=: every user's queued and running jobs
    (or one status's), in the order workers take them (oldest first); only the BFF may ask.
    `queued` and `running` count the whole queue, up to MAX_QUEUE_COUNT each."""

    items: list[TrainingJob]
    next_cursor: str | None = None
    queued: int
    running: int
    counts_at_least: bool = False
