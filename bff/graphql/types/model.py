"""A trained model of the viewer."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from bff.graphql.types.feature import Feature
from proto.inference import Model as ModelRecord


@strawberry.type
class Model:
    id: strawberry.ID
    name: str
    task: str
    latest_version: int
    aliases: JSON
    features: list[Feature]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_proto(cls, model: ModelRecord) -> Model:
        return cls(
            id=strawberry.ID(str(model.id)),
            name=model.name,
            task=model.task,
            latest_version=model.latest_version,
            aliases=JSON(model.aliases),
            features=[Feature.from_proto(feature) for feature in model.features],
            created_at=model.created_at,
            updated_at=model.updated_at,
        )
