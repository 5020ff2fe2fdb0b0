"""Settings of the datasets service (env prefix TERN_DATASETS_)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.kit.file_store_settings import FileStoreSettings

MIB = 1024 * 1024


class DatasetsSettings(FileStoreSettings):
    model_config = SettingsConfigDict(env_prefix="TERN_DATASETS_", extra="ignore")

    service_name: ClassVar[str] = "datasets"
    accepted_callers: ClassVar[frozenset[str]] = frozenset({"bff", "training"})

    port: int = 8101
    # Uploads: files arrive in chunks of this size (the last one may be shorter).
    upload_chunk_size_bytes: int = Field(default=5 * MIB, gt=0)
    upload_ttl_s: float = Field(default=24 * 3600, gt=0)
    max_file_bytes: int = Field(default=200 * 1000 * 1000, gt=0)
    max_open_uploads_per_user: int = Field(default=20, gt=0)
    upload_sweep_interval_s: float = Field(default=60.0, gt=0)
    # What a crash left behind (partial chunks, unrecorded version files) is freed once it has
    # been untouched this long: well past the slowest chunk or complete still in progress.
    leftover_safety_age_s: float = Field(default=3600.0, gt=0)
    # Parsing limits.
    max_columns: int = Field(default=1000, gt=0)
    max_rows: int = Field(default=5_000_000, gt=0)
    # Bytes pyarrow reads per block; the first block decides each column's type (a later value
    # that does not fit widens it). pyarrow's streaming reader holds a few dozen blocks at
    # once, so this bounds the memory of a conversion (1 MiB: ~40 MB of buffers).
    parse_block_size_bytes: int = Field(default=1 * MIB, gt=0)
    # Reads and labels.
    max_preview_columns: int = Field(default=100, gt=0)
    max_labels_per_batch: int = Field(default=500, gt=0)
