"""A trained model of the viewer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON

from bff.graphql.types.feature import Feature
from bff.graphql.types.json_values import as_datetime, as_id


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
    def from_json(cls, model: dict[str, Any]) -> Model:
        """From a `Model` as the inference service answers it."""
        return cls(
            id=as_id(model["id"]),
            name=model["name"],
            task=model["task"],
            latest_version=model["latest_version"],
            aliases=JSON(model["aliases"]),
            features=[Feature.from_json(feature) for feature in model["features"]],
            created_at=as_datetime(model["created_at"]),
            updated_at=as_datetime(model["updated_at"]),
        )
