"""Local copies of versions' Parquet files, for libraries that need a path.

Fetched once from the file store per version and node, so a remote store costs one download
per version, not one per preview page.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from services.datasets.context import DatasetsContext
from services.datasets.tables import DatasetVersionRow


async def local_copy(ctx: DatasetsContext, row: DatasetVersionRow) -> Path:
    """A local path of the version's Parquet content."""
    path = ctx.settings.service_dir / "cache" / f"{row.dataset_id}-v{row.version}-{row.sha256}"
    if await asyncio.to_thread(path.is_file):
        return path
    await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    try:
        await ctx.files.fetch(row.storage_key, staging)
        await asyncio.to_thread(staging.replace, path)
    finally:
        await asyncio.to_thread(staging.unlink, missing_ok=True)
    return path
