"""A training job of the viewer and, once done, its metrics and model; and what it relates to:
the dataset and version it trained on, the model and version it made."""

from __future__ import annotations

from datetime import datetime
from operator import itemgetter
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from bff.graphql.context import Context
from bff.graphql.types.described import described
from bff.graphql.types.json_backed import JsonBacked
from bff.graphql.types.json_values import as_datetime, as_id, as_optional_datetime, as_optional_id
from bff.graphql.types.node import Node, to_global_id
from services.kit.errors import not_found

if TYPE_CHECKING:
    from bff.graphql.types.dataset import Dataset
    from bff.graphql.types.dataset_version import DatasetVersion
    from bff.graphql.types.model import Model
    from bff.graphql.types.model_version import ModelVersion

_Dataset = Annotated["Dataset", strawberry.lazy("bff.graphql.types.dataset")]
_DatasetVersion = Annotated["DatasetVersion", strawberry.lazy("bff.graphql.types.dataset_version")]
_Model = Annotated["Model", strawberry.lazy("bff.graphql.types.model")]
_ModelVersion = Annotated["ModelVersion", strawberry.lazy("bff.graphql.types.model_version")]


@strawberry.type(
    description="A training job of the viewer. `id` is its uuid (as REST routes and "
    "mutations take it); `globalId` the Relay id for `node(id:)`. `model` names the algorithm and "
    "`datasetVersion` is a number, as before; the objects are `dataset`, `trainingData`, "
    "`trainedModel` and `trainedModelVersion`, each read once per request for all jobs."
)
class TrainingJob(Node, JsonBacked):
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

    readers = {
        "id": lambda job: as_id(job["id"]),
        "global_id": lambda job: to_global_id("TrainingJob", job["id"]),
        "status": itemgetter("status"),
        "dataset_id": lambda job: as_id(job["dataset_id"]),
        "dataset_version": itemgetter("dataset_version"),
        "target": itemgetter("target"),
        "features": itemgetter("features"),
        "task": itemgetter("task"),
        "model": itemgetter("model"),
        "model_name": itemgetter("model_name"),
        "hyperparameters": itemgetter("hyperparameters"),
        "created_at": lambda job: as_datetime(job["created_at"]),
        "started_at": lambda job: as_optional_datetime(job.get("started_at")),
        "finished_at": lambda job: as_optional_datetime(job.get("finished_at")),
        "error": lambda job: job.get("error"),
        "metrics": lambda job: job.get("metrics"),
        "model_id": lambda job: as_optional_id(job.get("model_id")),
        "model_version": lambda job: job.get("model_version"),
    }

    @classmethod
    def from_json(cls, job: dict[str, Any]) -> TrainingJob:
        """From a `TrainingJob` as the training service answers it (read when selected)."""
        return cls.backed_by(job)

    @described("The dataset it trains on.", loaded=1)
    async def dataset(self, info: Info[Context, None]) -> _Dataset | None:
        from bff.graphql.types.dataset import load_dataset

        return await load_dataset(info, self.dataset_id)

    @described("The dataset version it trains on.", loaded=1)
    async def training_data(self, info: Info[Context, None]) -> _DatasetVersion | None:
        from bff.graphql.types.dataset_version import load_dataset_version

        return await load_dataset_version(info, self.dataset_id, self.dataset_version)

    @described("The model it made; null until it succeeds.", loaded=1)
    async def trained_model(self, info: Info[Context, None]) -> _Model | None:
        from bff.graphql.types.model import load_model

        if self.model_id is None:
            return None
        return await load_model(info, self.model_id)

    @described("The model version it made; null until it succeeds.", loaded=1)
    async def trained_model_version(self, info: Info[Context, None]) -> _ModelVersion | None:
        from bff.graphql.types.model_version import load_model_version

        if self.model_id is None or self.model_version is None:
            return None
        return await load_model_version(info, self.model_id, self.model_version)


async def load_training_job(info: Info[Context, None], job_id: str) -> TrainingJob:
    """One of the viewer's jobs through the request's loader; JOB_NOT_FOUND if not theirs."""
    found = await info.context.loaders.training_jobs.load(job_id)
    if found is None:
        raise not_found("job", job_id)
    return TrainingJob.from_json(found)
