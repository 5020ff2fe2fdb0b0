"""A trained model of the viewer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON

from bff.graphql.types.feature import Feature
from bff.graphql.types.json_values import catalog_entry_fields


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
            **catalog_entry_fields(model),
            task=model["task"],
            aliases=JSON(model["aliases"]),
            features=[Feature.from_json(feature) for feature in model["features"]],
        )
