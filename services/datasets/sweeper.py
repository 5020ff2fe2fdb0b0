"""The periodic task that expires abandoned uploads and frees the bytes crashes left behind."""

from __future__ import annotations

import asyncio
import contextlib
from contextlib import AsyncExitStack

from services.datasets.context import DatasetsContext
from services.datasets.leftovers import sweep
from services.kit.structured_logging import get_logger

_log = get_logger(__name__)


async def sweep_forever(ctx: DatasetsContext, interval_s: float) -> None:
    """Sweep every `interval_s` seconds; one failed sweep never stops it."""
    while True:
        try:
            result = await sweep(ctx)
            if result.anything:
                _log.info(
                    "uploads_swept",
                    expired_uploads=result.expired_uploads,
                    chunk_folders=result.chunk_folders,
                    partial_files=result.partial_files,
                    version_files=result.version_files,
                )
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
