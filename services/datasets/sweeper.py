"""The periodic task that expires abandoned uploads and frees their disk space."""

from __future__ import annotations

import asyncio
import contextlib
from contextlib import AsyncExitStack

from services.datasets.context import DatasetsContext
from services.datasets.uploads import expire_abandoned_uploads
from services.kit.structured_logging import get_logger

_log = get_logger(__name__)


async def sweep_forever(ctx: DatasetsContext, interval_s: float) -> None:
    """Expire abandoned uploads every `interval_s` seconds; one failed sweep never stops it."""
    while True:
        try:
            expired = await expire_abandoned_uploads(ctx)
            if expired:
                _log.info("uploads_expired", count=expired)
        except Exception:
            _log.exception("upload_sweep_failed")
        await asyncio.sleep(interval_s)


def start_upload_sweeper(ctx: DatasetsContext, stack: AsyncExitStack) -> None:
    """Run the sweeper in the background until the exit stack closes (app shutdown)."""
    task = asyncio.create_task(
        sweep_forever(ctx, ctx.settings.upload_sweep_interval_s), name="upload-sweeper"
    )

    async def stop() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    stack.push_async_callback(stop)
