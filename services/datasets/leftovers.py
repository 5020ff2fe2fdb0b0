"""Freeing the bytes that crashes leave behind, once nothing can still be using them.

A crash can leave: the chunk folder of an upload already completed or expired (it died
between the database write and the delete), a partial chunk (`.incoming-*`) or a completion
work folder in an open upload's folder, and a version file put in the store whose version row
was never committed (journaled in `unrecorded_files`). Each is deleted only when it has been
untouched for `leftover_safety_age_s`, so a chunk still streaming in or a complete still
converting is never touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from services.datasets import repository
from services.datasets.context import DatasetsContext
from services.datasets.uploads import expire_abandoned_uploads
from services.kit.clock import utc_now

_STATUS_BATCH = 500


@dataclass(frozen=True, slots=True)
class SweepResult:
    """What one sweep expired and freed."""

    expired_uploads: int = 0
    chunk_folders: int = 0
    partial_files: int = 0
    version_files: int = 0

    @property
    def anything(self) -> bool:
        return any(
            (self.expired_uploads, self.chunk_folders, self.partial_files, self.version_files)
        )


async def sweep(ctx: DatasetsContext, now: datetime | None = None) -> SweepResult:
    """Expire abandoned uploads, then free what crashes left behind."""
    now = now or utc_now()
    expired = await expire_abandoned_uploads(ctx, now)
    untouched_since = now - timedelta(seconds=ctx.settings.leftover_safety_age_s)
    folders, partials = await free_chunk_leftovers(ctx, untouched_since)
    version_files = await free_unrecorded_version_files(ctx, untouched_since)
    return SweepResult(expired, folders, partials, version_files)


async def free_chunk_leftovers(ctx: DatasetsContext, untouched_since: datetime) -> tuple[int, int]:
    """Remove stale folders of uploads no longer open, and stale partials of open ones.

    Returns (folders removed, partial files and work folders removed).
    """
    cutoff = untouched_since.timestamp()
    upload_ids = await ctx.chunks.upload_ids()
    folders = partials = 0
    for start in range(0, len(upload_ids), _STATUS_BATCH):
        batch = upload_ids[start : start + _STATUS_BATCH]
        async with ctx.db.session() as session:
            statuses = await repository.upload_statuses(session, batch)
        for upload_id in batch:
            if statuses.get(upload_id) == "open":
                partials += await ctx.chunks.remove_partials(upload_id, cutoff)
            elif await ctx.chunks.last_written(upload_id) < cutoff:
                # Completed, expired, or no row at all: nothing will read these chunks again.
                await ctx.chunks.remove_upload(upload_id)
                folders += 1
    return folders, partials


async def free_unrecorded_version_files(
    ctx: DatasetsContext, untouched_since: datetime, batch: int = 100
) -> int:
    """Delete stored version files journaled before then whose version was never recorded."""
    freed = 0
    while True:
        async with ctx.db.session() as session:
            keys = await repository.stale_unrecorded_files(session, untouched_since, batch)
            # Recording a version removes its journal row in the same transaction, so no key
            # here should be referenced; checking costs little and guards the data.
            referenced = await repository.referenced_storage_keys(session, keys) if keys else set()
        for key in keys:
            if key not in referenced:
                await ctx.files.delete(key)
        if keys:
            async with ctx.db.transaction() as session:
                await repository.forget_unrecorded_files(session, keys)
        freed += len(keys) - len(referenced)
        if len(keys) < batch:
            return freed
