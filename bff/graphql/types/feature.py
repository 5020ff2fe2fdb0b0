"""An input feature of a model."""

from __future__ import annotations

import strawberry

from proto.inference import FeatureSpec


@strawberry.type
class Feature:
    name: str
    type: str

    @classmethod
    def from_proto(cls, feature: FeatureSpec) -> Feature:
        return cls(name=feature.name, type=feature.type)
