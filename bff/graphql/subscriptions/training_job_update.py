"""What a `trainingJob` subscription tells: a progress step, or the finished job."""

from __future__ import annotations

import strawberry

from bff.graphql.subscriptions.training_progress import TrainingProgress
from bff.graphql.types.training_job import TrainingJob


@strawberry.type
class TrainingJobUpdate:
    """Either `progress` (one step, while the job runs) or `job` (once it finished; the
    stream then completes)."""

    progress: TrainingProgress | None = None
    job: TrainingJob | None = None
