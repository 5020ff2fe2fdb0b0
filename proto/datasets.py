"""Contract of the datasets service (internal REST, under /internal/v1)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import Field

from proto.common import MAX_BATCH_IDS, Contract, Count, Ordinal

CHUNK_CHECKSUM_HEADER = "X-Chunk-SHA256"
# A version's content (GET .../versions/{version}/content) is a Parquet file.
PARQUET_MEDIA_TYPE = "application/vnd.apache.parquet"
# The longest `columns` query parameter (comma-separated names) a rows request takes.
MAX_COLUMNS_PARAM_LENGTH = 20_000

ColumnType = Literal["integer", "number", "boolean", "string", "datetime"]
DatasetFormat = Literal["csv", "jsonl", "parquet"]
UploadStatus = Literal["open", "completed", "expired"]


class UploadCreate(Contract):
    """POST /internal/v1/uploads: announce a file; `dataset_id` adds a version to that dataset.

    A `size` of 0 is answered 422 EMPTY_FILE (the code an empty file gets on completion too).
    """

    filename: str = Field(min_length=1, max_length=255)
    size: Count
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
    """One immutable version of a dataset.

    `source_encoding` is the text encoding a CSV upload was read in (sniffed: "utf-8",
    "utf-8-sig", "utf-16", "cp1252", ...), so an app can show it; None for other formats.
    """

    dataset_id: UUID
    version: int
    format: DatasetFormat
    row_count: int
    size_bytes: int
    sha256: str
    columns: list[ColumnSchema]
    created_at: datetime
    source_encoding: str | None = None


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


class VersionKey(Contract):
    """One version of one dataset, as a batch read names it."""

    dataset_id: UUID
    version: Ordinal


class VersionBatchRead(Contract):
    """POST /internal/v1/datasets/versions/batch: the versions to read at once (1-100); only
    the acting user's come back, the others are absent from the answer."""

    keys: list[VersionKey] = Field(min_length=1, max_length=MAX_BATCH_IDS)


# --- preview and stats ---------------------------------------------------------------------


class RowsPage(Contract):
    """GET .../versions/{v}/rows: a page of rows, columnar-friendly (one list per row)."""

    columns: list[str]
    row_ids: list[int]
    rows: list[list[Any]]
    next_cursor: str | None = None


class HistogramBin(Contract):
    lower: float
    upper: float
    count: int


class TopValue(Contract):
    value: str
    count: int


class ColumnStats(Contract):
    """Per-column statistics; numbers get moments, quantiles and a histogram, others top values."""

    name: str
    type: ColumnType
    count: int
    nulls: int
    mean: float | None = None
    std: float | None = None
    min: float | None = None
    max: float | None = None
    quantiles: dict[str, float] | None = None
    histogram: list[HistogramBin] | None = None
    top_values: list[TopValue] | None = None


class VersionStats(Contract):
    """Statistics of one version, computed once when the version is created."""

    dataset_id: UUID
    version: int
    row_count: int
    columns: list[ColumnStats]


# --- labels --------------------------------------------------------------------------------


class Label(Contract):
    """A label on one row of a version; `revision` grows by one on every change."""

    dataset_id: UUID
    version: int
    row_id: int
    label: str | None
    note: str | None = None
    revision: int
    updated_at: datetime


class LabelWrite(Contract):
    """One label to set (or clear with `label: null`).

    `base_revision` is the revision the client last saw (0 for a row it never saw labelled);
    when the server's revision differs, the write is not applied and comes back as a conflict.
    """

    row_id: Count
    label: str | None = Field(min_length=1, max_length=200)
    note: str | None = Field(default=None, max_length=1000)
    base_revision: Count = 0


class LabelBatch(Contract):
    """PUT .../versions/{v}/labels: bulk upsert (at most 500 labels by default; a full batch
    stays under the BFF's 1 MiB body limit)."""

    labels: list[LabelWrite] = Field(min_length=1)


class LabelConflict(Contract):
    """A write that was not applied: the server holds a different revision (`current`)."""

    row_id: int
    code: Literal["LABEL_CONFLICT"] = "LABEL_CONFLICT"
    base_revision: int
    current: Label | None


class LabelBatchResult(Contract):
    applied: list[Label]
    conflicts: list[LabelConflict]


# --- change feed ---------------------------------------------------------------------------

ChangeKind = Literal["dataset", "label"]
ChangeOp = Literal["upsert", "delete"]


class Change(Contract):
    """One entry of the change feed: the latest state of one entity (or its tombstone)."""

    seq: int
    kind: ChangeKind
    op: ChangeOp
    dataset_id: UUID
    version: int | None = None
    row_id: int | None = None
    dataset: Dataset | None = None
    label: Label | None = None
    changed_at: datetime


class ChangeFeed(Contract):
    """GET /internal/v1/changes?since=<seq>: changes after `since`, oldest first.

    Pass `next_since` back as `since`; `has_more` says whether to ask again right away.
    """

    changes: list[Change]
    next_since: int
    has_more: bool


# Kinds of this service's entries in its change feed (GET /internal/v1/feed); ids are
# "<dataset id>", "<dataset id>/<version>" and "<dataset id>/<version>/<row id>".
FEED_DATASET = "dataset"
FEED_DATASET_VERSION = "dataset_version"
FEED_LABEL = "label"
