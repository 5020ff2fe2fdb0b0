"""The datasets service app."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

from fastapi import FastAPI

from proto.common import INTERNAL_PREFIX
from services.datasets.context import DatasetsContext
from services.datasets.endpoints import router
from services.datasets.settings import DatasetsSettings
from services.datasets.sweeper import start_upload_sweeper
from services.datasets.tables import FEED
from services.kit.app_factory import create_service_app
from services.kit.runtime import ServiceRuntime

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Room for a chunk plus headers: the chunk route counts exact lengths itself.
_CHUNK_BODY_SLACK = 64 * 1024


def create_app(settings: DatasetsSettings | None = None) -> FastAPI:
    """The datasets service: chunked uploads, dataset versions as Parquet, an upload sweeper."""
    settings = settings or DatasetsSettings()

    async def startup(_runtime: ServiceRuntime, stack: AsyncExitStack) -> None:
        stack.push_async_callback(app.state.context.files.aclose)
        start_upload_sweeper(app.state.context, stack)

    app = create_service_app(
        settings,
        title="Tern datasets",
        migrations_dir=MIGRATIONS_DIR,
        startup=startup,
        body_limit_overrides={
            f"{INTERNAL_PREFIX}/uploads": settings.upload_chunk_size_bytes + _CHUNK_BODY_SLACK
        },
        context=DatasetsContext.build,
        change_feed=FEED,
    )
    app.include_router(router)
    return app
