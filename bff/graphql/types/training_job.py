"""A training job of the viewer and, once done, its metrics and model."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON

from bff.graphql.types.json_values import as_datetime, as_id, as_optional_datetime, as_optional_id


@strawberry.type
class TrainingJob:
    id: strawberry.ID
    status: str
    dataset_id: strawberry.ID
    dataset_version: int
    target: str
    features: list[str]
    task: str
    model: str
    model_name: str
    hyperparameters: JSON
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    metrics: JSON | None
    model_id: strawberry.ID | None
    model_version: int | None

    @classmethod
    def from_json(cls, job: dict[str, Any]) -> TrainingJob:
        """From a `TrainingJob` as the training service answers it."""
        metrics = job.get("metrics")
        return cls(
            id=as_id(job["id"]),
            status=job["status"],
            dataset_id=as_id(job["dataset_id"]),
            dataset_version=job["dataset_version"],
            target=job["target"],
            features=job["features"],
            task=job["task"],
            model=job["model"],
            model_name=job["model_name"],
            hyperparameters=JSON(job["hyperparameters"]),
            created_at=as_datetime(job["created_at"]),
            started_at=as_optional_datetime(job.get("started_at")),
            finished_at=as_optional_datetime(job.get("finished_at")),
            error=job.get("error"),
            metrics=JSON(metrics) if metrics is not None else None,
            model_id=as_optional_id(job.get("model_id")),
            model_version=job.get("model_version"),
        )
