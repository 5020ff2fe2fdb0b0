"""Predictions of a model for a few rows."""

from __future__ import annotations

import strawberry
from strawberry.scalars import JSON

from proto.inference import Prediction as PredictionContract
from proto.inference import PredictResponse


@strawberry.type
class Prediction:
    """`label` is a class name (classification) or a number (regression)."""

    label: JSON
    probabilities: JSON | None
    confidence: float | None

    @classmethod
    def from_model(cls, prediction: PredictionContract) -> Prediction:
        probabilities = prediction.probabilities
        return cls(
            label=JSON(prediction.label),
            probabilities=JSON(probabilities) if probabilities is not None else None,
            confidence=prediction.confidence,
        )


@strawberry.type
class Predictions:
    """What one model version predicted for each row, in the rows' order."""

    model_id: strawberry.ID
    version: int
    predictions: list[Prediction]

    @classmethod
    def from_model(cls, response: PredictResponse) -> Predictions:
        """From a `PredictResponse` as the inference service answers it."""
        return cls(
            model_id=strawberry.ID(str(response.model_id)),
            version=response.version,
            predictions=[Prediction.from_model(item) for item in response.predictions],
        )
