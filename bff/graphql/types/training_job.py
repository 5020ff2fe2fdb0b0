"""A training job of the viewer and, once done, its metrics and model."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from proto.training import TrainingJob as TrainingJobRecord


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
    def from_proto(cls, job: TrainingJobRecord) -> TrainingJob:
        return cls(
            id=strawberry.ID(str(job.id)),
            status=job.status,
            dataset_id=strawberry.ID(str(job.dataset_id)),
            dataset_version=job.dataset_version,
            target=job.target,
            features=job.features,
            task=job.task,
            model=job.model,
            model_name=job.model_name,
            hyperparameters=JSON(job.hyperparameters),
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            error=job.error,
            metrics=JSON(job.metrics) if job.metrics is not None else None,
            model_id=strawberry.ID(str(job.model_id)) if job.model_id else None,
            model_version=job.model_version,
        )
