"""Internal REST endpoints of the datasets service (/internal/v1): parse, authorize, delegate."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Header, Query, Request
from starlette.responses import Response, StreamingResponse

from proto.common import INTERNAL_PREFIX, Batch, BatchRead, Page
from proto.datasets import (
    CHUNK_CHECKSUM_HEADER,
    MAX_COLUMNS_PARAM_LENGTH,
    PARQUET_MEDIA_TYPE,
    ChangeFeed,
    Dataset,
    DatasetVersion,
    Label,
    LabelBatch,
    LabelBatchResult,
    RowsPage,
    UploadCreate,
    UploadSession,
    VersionBatchRead,
    VersionStats,
)
from services.datasets import catalog, changes, labels, previews, uploads
from services.datasets.context import DatasetsDep
from services.kit.dependencies import INTERNAL_DEPENDENCIES, ActingUser
from services.kit.paging import CursorParam, LimitParam, clamp_limit
from services.kit.params import SinceParam, VersionPath
from services.kit.responses import json_response
from services.kit.routing import PrefixedRouter

router = PrefixedRouter(
    prefix=INTERNAL_PREFIX, dependencies=INTERNAL_DEPENDENCIES, tags=["datasets"]
)


@router.post("/uploads", status_code=201, response_model=UploadSession)
async def create_upload(body: UploadCreate, ctx: DatasetsDep, user: ActingUser) -> UploadSession:
    """Open a resumable upload; send the chunks next."""
    return await uploads.create_upload(ctx, user, body)


@router.get("/uploads/{upload_id}", response_model=UploadSession)
async def get_upload(upload_id: uuid.UUID, ctx: DatasetsDep, user: ActingUser) -> UploadSession:
    """The upload with the chunks received so far."""
    return await uploads.get_upload(ctx, user, upload_id)


@router.put("/uploads/{upload_id}/chunks/{n}", response_model=UploadSession)
async def put_chunk(
    upload_id: uuid.UUID,
    n: int,
    request: Request,
    ctx: DatasetsDep,
    user: ActingUser,
    chunk_sha256: Annotated[str | None, Header(alias=CHUNK_CHECKSUM_HEADER)] = None,
) -> UploadSession:
    """Receive chunk `n` (0-based); the raw body is streamed to disk."""
    return await uploads.receive_chunk(ctx, user, upload_id, n, chunk_sha256, request.stream())


@router.post("/uploads/{upload_id}/complete", status_code=201, response_model=DatasetVersion)
async def complete_upload(
    upload_id: uuid.UUID, ctx: DatasetsDep, user: ActingUser
) -> DatasetVersion:
    """Assemble, check and convert the upload into a dataset version."""
    return await uploads.complete_upload(ctx, user, upload_id)


@router.get("/datasets", response_model=Page[Dataset])
async def list_datasets(
    ctx: DatasetsDep,
    user: ActingUser,
    cursor: CursorParam = None,
    limit: LimitParam = None,
) -> Response:
    """The caller's datasets, most recently updated first."""
    return json_response(await catalog.list_datasets(ctx, user, cursor, limit))


@router.post("/datasets/batch", response_model=Batch[Dataset])
async def read_datasets(body: BatchRead, ctx: DatasetsDep, user: ActingUser) -> Response:
    """Several of the caller's datasets at once (at most 100 ids); others' are left out."""
    return json_response(await catalog.read_datasets(ctx, user, body.ids))


@router.post("/datasets/versions/batch", response_model=Batch[DatasetVersion])
async def read_versions(
    body: VersionBatchRead, ctx: DatasetsDep, user: ActingUser
) -> Batch[DatasetVersion]:
    """Several versions of the caller's datasets at once (at most 100); others' are left out."""
    return await catalog.read_versions(ctx, user, body.keys)


@router.get("/datasets/{dataset_id}", response_model=Dataset)
async def get_dataset(dataset_id: uuid.UUID, ctx: DatasetsDep, user: ActingUser) -> Dataset:
    return await catalog.get_dataset(ctx, user, dataset_id)


@router.get("/datasets/{dataset_id}/versions", response_model=Page[DatasetVersion])
async def list_versions(
    dataset_id: uuid.UUID,
    ctx: DatasetsDep,
    user: ActingUser,
    cursor: CursorParam = None,
    limit: LimitParam = None,
) -> Page[DatasetVersion]:
    """The dataset's versions, newest first."""
    return await catalog.list_versions(ctx, user, dataset_id, cursor, limit)


@router.get("/datasets/{dataset_id}/versions/{version}", response_model=DatasetVersion)
async def get_version(
    dataset_id: uuid.UUID, version: VersionPath, ctx: DatasetsDep, user: ActingUser
) -> DatasetVersion:
    return await catalog.get_version(ctx, user, dataset_id, version)


@router.get(
    "/datasets/{dataset_id}/versions/{version}/content",
    response_class=StreamingResponse,
    responses={200: {"content": {PARQUET_MEDIA_TYPE: {}}}},
)
async def get_version_content(
    dataset_id: uuid.UUID, version: VersionPath, ctx: DatasetsDep, user: ActingUser
) -> StreamingResponse:
    """The version as a Parquet file, streamed."""
    content = await catalog.open_version_content(ctx, user, dataset_id, version)
    return StreamingResponse(
        content.chunks,
        media_type=PARQUET_MEDIA_TYPE,
        headers={
            "content-length": str(content.size),
            "etag": f'"{content.sha256}"',
            "content-disposition": f'attachment; filename="{content.filename}"',
        },
    )


@router.delete("/datasets/{dataset_id}", status_code=204)
async def delete_dataset(dataset_id: uuid.UUID, ctx: DatasetsDep, user: ActingUser) -> Response:
    """Soft-delete a dataset; the change feed gets its tombstone. Deleting twice is fine."""
    await catalog.delete_dataset(ctx, user, dataset_id)
    return Response(status_code=204)


@router.get("/datasets/{dataset_id}/versions/{version}/rows", response_model=RowsPage)
async def get_rows(
    dataset_id: uuid.UUID,
    version: VersionPath,
    ctx: DatasetsDep,
    user: ActingUser,
    cursor: CursorParam = None,
    limit: LimitParam = None,
    columns: Annotated[str | None, Query(max_length=MAX_COLUMNS_PARAM_LENGTH)] = None,
) -> RowsPage:
    """A page of rows; `columns` is a comma-separated selection (all columns by default)."""
    selected = [name.strip() for name in columns.split(",") if name.strip()] if columns else None
    return await previews.read_rows(
        ctx, user, dataset_id, version, cursor=cursor, limit=limit, columns=selected
    )


@router.get("/datasets/{dataset_id}/versions/{version}/stats", response_model=VersionStats)
async def get_stats(
    dataset_id: uuid.UUID, version: VersionPath, ctx: DatasetsDep, user: ActingUser
) -> VersionStats:
    """Per-column statistics, computed once when the version was created."""
    return await catalog.get_version_stats(ctx, user, dataset_id, version)


@router.get("/datasets/{dataset_id}/versions/{version}/labels", response_model=Page[Label])
async def list_labels(
    dataset_id: uuid.UUID,
    version: VersionPath,
    ctx: DatasetsDep,
    user: ActingUser,
    cursor: CursorParam = None,
    limit: LimitParam = None,
) -> Page[Label]:
    """The version's labels by row id."""
    return await labels.list_labels(ctx, user, dataset_id, version, cursor, limit)


@router.put("/datasets/{dataset_id}/versions/{version}/labels", response_model=LabelBatchResult)
async def upsert_labels(
    dataset_id: uuid.UUID,
    version: VersionPath,
    body: LabelBatch,
    ctx: DatasetsDep,
    user: ActingUser,
) -> LabelBatchResult:
    """Bulk upsert; writes based on a stale revision come back as conflicts, unapplied."""
    return await labels.upsert_labels(ctx, user, dataset_id, version, body)


@router.get("/changes", response_model=ChangeFeed)
async def get_changes(
    ctx: DatasetsDep,
    user: ActingUser,
    since: SinceParam = 0,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> ChangeFeed:
    """The caller's changes after `since`, oldest first: upserts and tombstones."""
    return await changes.read_changes(ctx, user, since, clamp_limit(limit))
