"""An input feature of a model."""

from __future__ import annotations

from typing import Any

import strawberry


@strawberry.type
class Feature:
    name: str
    type: str

    @classmethod
    def from_json(cls, feature: dict[str, Any]) -> Feature:
        """From a `FeatureSpec` as the inference service answers it."""
        return cls(name=feature["name"], type=feature["type"])
