"""What the training service's routes and domain code need at hand, built once per app."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from services.kit.database import Database
from services.kit.dependencies import context_dependency
from services.kit.runtime import ServiceRuntime
from services.training.datasets_client import DatasetsClient
from services.training.inference_client import InferenceClient
from services.training.notifications_client import NotificationsClient
from services.training.settings import TrainingSettings
from services.training.worker import Downstreams, JobWorker


@dataclass
class TrainingContext:
    settings: TrainingSettings
    db: Database
    downstreams: Downstreams
    # Started with the lifespan when this process trains (TERN_TRAINING_WORKER_ENABLED).
    worker: JobWorker | None = None

    @classmethod
    def build(cls, runtime: ServiceRuntime) -> TrainingContext:
        settings = runtime.settings
        assert isinstance(settings, TrainingSettings)
        downstreams = Downstreams(
            datasets=DatasetsClient(runtime.client("datasets")),
            inference=InferenceClient(runtime.client("inference")),
            notifications=NotificationsClient(runtime.client("notifications")),
        )
        return cls(settings, runtime.db, downstreams)

    def wake_worker(self) -> None:
        """A job was queued: a waiting worker of this process looks at once."""
        if self.worker is not None:
            self.worker.wake()


TrainingDep = Annotated[TrainingContext, Depends(context_dependency(TrainingContext))]
"""What a route of the training service reaches: settings, database, downstreams, worker."""
