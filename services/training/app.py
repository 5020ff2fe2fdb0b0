"""The training service's app factory."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

from fastapi import FastAPI

from services.kit.app_factory import create_service_app
from services.kit.runtime import ServiceRuntime
from services.training.datasets_client import DatasetsClient
from services.training.endpoints import router
from services.training.inference_client import InferenceClient
from services.training.notifications_client import NotificationsClient
from services.training.settings import TrainingSettings
from services.training.worker import Downstreams, JobWorker

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def create_app(settings: TrainingSettings | None = None) -> FastAPI:
    """The training service: job endpoints, plus the job worker when enabled."""
    settings = settings or TrainingSettings()

    async def start_worker(runtime: ServiceRuntime, stack: AsyncExitStack) -> None:
        if not settings.worker_enabled:
            return
        downstreams = Downstreams(
            datasets=DatasetsClient(runtime.client("datasets")),
            inference=InferenceClient(runtime.client("inference")),
            notifications=NotificationsClient(runtime.client("notifications")),
        )
        worker = JobWorker(settings, runtime.db, downstreams)
        app.state.job_worker = worker
        await worker.start(stack)

    app = create_service_app(
        settings,
        title="Tern training",
        migrations_dir=MIGRATIONS_DIR,
        downstreams={
            "datasets": settings.datasets_url,
            "inference": settings.inference_url,
            "notifications": settings.notifications_url,
        },
        startup=start_worker,
    )
    app.include_router(router)
    return app
