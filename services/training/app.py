"""The training service's app factory."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

from fastapi import FastAPI

from services.kit.app_factory import create_service_app
from services.kit.runtime import ServiceRuntime
from services.training.context import TrainingContext
from services.training.endpoints import router
from services.training.settings import TrainingSettings
from services.training.tables import FEED
from services.training.worker import JobWorker

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def create_app(settings: TrainingSettings | None = None) -> FastAPI:
    """The training service: job endpoints, plus the job worker when enabled."""
    settings = settings or TrainingSettings()

    async def start_worker(runtime: ServiceRuntime, stack: AsyncExitStack) -> None:
        if not settings.worker_enabled:
            return
        context: TrainingContext = app.state.context
        context.worker = JobWorker(settings, runtime.db, context.downstreams)
        await context.worker.start(stack)

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
        context=TrainingContext.build,
        change_feed=FEED,
    )
    app.include_router(router)
    return app
