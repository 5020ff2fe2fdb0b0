"""What the datasets domain code needs at hand: settings, database and the two file areas."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from services.datasets.chunk_store import ChunkStore
from services.datasets.parsing import ParseLimits
from services.datasets.settings import DatasetsSettings
from services.kit.database import Database
from services.kit.dependencies import context_dependency
from services.kit.file_store import FileStore
from services.kit.file_store_settings import build_file_store
from services.kit.runtime import ServiceRuntime


@dataclass(frozen=True, slots=True)
class DatasetsContext:
    settings: DatasetsSettings
    db: Database
    files: FileStore
    chunks: ChunkStore

    @classmethod
    def build(cls, runtime: ServiceRuntime) -> DatasetsContext:
        """`uploads/` under the service dir for chunks; versions in the configured file store
        (`store/` under the service dir unless it is an S3-compatible bucket)."""
        settings = runtime.settings
        assert isinstance(settings, DatasetsSettings)
        files = build_file_store(settings, settings.service_dir / "store")
        if settings.store_url:
            runtime.checks["store"] = files.ping
        return cls(
            settings=settings,
            db=runtime.db,
            files=files,
            chunks=ChunkStore(settings.service_dir / "uploads"),
        )

    @property
    def parse_limits(self) -> ParseLimits:
        return ParseLimits(
            max_columns=self.settings.max_columns,
            max_rows=self.settings.max_rows,
            block_size=self.settings.parse_block_size_bytes,
        )


DatasetsDep = Annotated[DatasetsContext, Depends(context_dependency(DatasetsContext))]
"""What a route of the datasets service reaches: settings, database, file areas."""
