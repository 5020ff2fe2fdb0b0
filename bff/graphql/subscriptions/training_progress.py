"""One progress step of a training job, as its live stream tells it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from bff.graphql.types.json_values import as_datetime


@strawberry.type
class TrainingProgress:
    """An epoch (or estimator step); `metric` is accuracy for classification and RMSE for
    regression. `seq` resumes a stream (`trainingJob(id, after: seq)`)."""

    seq: int
    attempt: int
    epoch: float | None
    loss: float | None
    val_loss: float | None
    metric: float | None
    val_metric: float | None
    eta_s: float | None
    created_at: datetime

    @classmethod
    def from_json(cls, step: dict[str, Any]) -> TrainingProgress:
        """From a `TrainingProgress` of the training service's SSE stream."""
        return cls(
            seq=step["seq"],
            attempt=step["attempt"],
            epoch=step.get("epoch"),
            loss=step.get("loss"),
            val_loss=step.get("val_loss"),
            metric=step.get("metric"),
            val_metric=step.get("val_metric"),
            eta_s=step.get("eta_s"),
            created_at=as_datetime(step["created_at"]),
        )
