"""Contract of the datasets service (internal REST, under /internal/v1)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import Field

from proto.common import Contract

CHUNK_CHECKSUM_HEADER = "X-Chunk-SHA256"

ColumnType = Literal["integer", "number", "boolean", "string", "datetime"]
DatasetFormat = Literal["csv", "jsonl", "parquet"]
UploadStatus = Literal["open", "completed", "expired"]


class UploadCreate(Contract):
    """POST /internal/v1/uploads: announce a file; `dataset_id` adds a version to that dataset."""

    filename: str = Field(min_length=1, max_length=255)
    size: int = Field(gt=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    content_type: str = Field(default="text/csv", max_length=100)
    dataset_id: UUID | None = None
    name: str | None = Field(default=None, min_length=1, max_length=200)


class UploadSession(Contract):
    """An upload in progress: which chunks arrived, so a client resumes after a drop."""

    upload_id: UUID
    filename: str
    size: int
    chunk_size: int
    chunk_count: int
    received_chunks: list[int]
    status: UploadStatus
    expires_at: datetime
    dataset_id: UUID | None = None
    version: int | None = None


class ColumnSchema(Contract):
    name: str
    type: ColumnType
    nulls: int
    distinct_estimate: int


class DatasetVersion(Contract):
    """One immutable version of a dataset."""

    dataset_id: UUID
    version: int
    format: DatasetFormat
    row_count: int
    size_bytes: int
    sha256: str
    columns: list[ColumnSchema]
    created_at: datetime


class Dataset(Contract):
    """A dataset owned by one user; `latest` is its newest version."""

    id: UUID
    name: str
    owner_id: str
    latest_version: int
    row_count: int
    columns: list[ColumnSchema]
    created_at: datetime
    updated_at: datetime
