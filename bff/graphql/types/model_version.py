"""One registered version of a model: how it was trained and how well it did."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from bff.graphql.context import Context
from bff.graphql.types.described import described
from bff.graphql.types.feature import Feature
from bff.graphql.types.node import Node, to_global_id
from proto.inference import ModelVersion as ModelVersionContract
from services.kit.errors import ApiError

if TYPE_CHECKING:
    from bff.graphql.types.dataset_version import DatasetVersion
    from bff.graphql.types.model import Model
    from bff.graphql.types.training_job import TrainingJob

_Model = Annotated["Model", strawberry.lazy("bff.graphql.types.model")]
_TrainingJob = Annotated["TrainingJob", strawberry.lazy("bff.graphql.types.training_job")]
_DatasetVersion = Annotated["DatasetVersion", strawberry.lazy("bff.graphql.types.dataset_version")]


def model_version_global_id(model_id: object, version: int) -> strawberry.ID:
    return to_global_id("ModelVersion", f"{model_id}:{version}")


@strawberry.type(description="A version of a model: `modelId` and `version` name it.")
class ModelVersion(Node):
    model_id: strawberry.ID = strawberry.field(description="The model's uuid.")
    version: int
    task: str
    format: str
    feature_json: strawberry.Private[list[dict[str, Any]]]

    @strawberry.field
    def features(self) -> list[Feature]:
        # Converted when selected: a list of versions rarely asks for their features.
        return [Feature.from_json(feature) for feature in self.feature_json]

    classes: list[str] | None
    metrics: JSON
    training_job_id: strawberry.ID | None = strawberry.field(
        description="The uuid of the job that trained it; null for an uploaded model."
    )
    dataset_id: strawberry.ID | None
    dataset_version: int | None
    created_at: datetime

    @classmethod
    def from_model(cls, version: ModelVersionContract) -> ModelVersion:
        """From a `ModelVersion` as the inference service answers it."""
        return cls.from_json(version.model_dump(mode="json"))

    @classmethod
    def from_json(cls, version: dict[str, Any]) -> ModelVersion:
        model_id = str(version["model_id"])
        job_id, dataset_id = version.get("training_job_id"), version.get("dataset_id")
        return cls(
            global_id=model_version_global_id(model_id, version["version"]),
            model_id=strawberry.ID(model_id),
            version=version["version"],
            task=version["task"],
            format=version["format"],
            feature_json=version["features"],
            classes=version.get("classes"),
            metrics=JSON(version["metrics"]),
            training_job_id=None if job_id is None else strawberry.ID(str(job_id)),
            dataset_id=None if dataset_id is None else strawberry.ID(str(dataset_id)),
            dataset_version=version.get("dataset_version"),
            created_at=datetime.fromisoformat(version["created_at"]),
        )

    @described("The model it is a version of.", loaded=1)
    async def model(self, info: Info[Context, None]) -> _Model | None:
        from bff.graphql.types.model import load_model

        return await load_model(info, self.model_id)

    @described("The job that trained it; null for an uploaded model.", loaded=1)
    async def training_job(self, info: Info[Context, None]) -> _TrainingJob | None:
        from bff.graphql.types.training_job import load_training_job

        if self.training_job_id is None:
            return None
        return await load_training_job(info, self.training_job_id)

    @described("The dataset version it was trained on, if known.", loaded=1)
    async def training_data(self, info: Info[Context, None]) -> _DatasetVersion | None:
        from bff.graphql.types.dataset_version import load_dataset_version

        if self.dataset_id is None or self.dataset_version is None:
            return None
        return await load_dataset_version(info, self.dataset_id, self.dataset_version)


async def load_model_version(
    info: Info[Context, None], model_id: str, version: int
) -> ModelVersion:
    """One version of the viewer's model through the request's loader; MODEL_VERSION_NOT_FOUND
    if there is none (or the model is not theirs)."""
    found = await info.context.loaders.model_versions.load((model_id, version))
    if found is None:
        raise ApiError(404, "MODEL_VERSION_NOT_FOUND", f"model {model_id} has no version {version}")
    return ModelVersion.from_json(found)
