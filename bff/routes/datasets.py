"""The user's datasets: list, get, delete, versions, rows, stats, labels and the change feed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Annotated
from uuid import UUID

from fastapi import Query, Response
from fastapi.responses import StreamingResponse

from bff.compact.representation import Represented
from bff.dependencies import Clients, CurrentUser
from bff.routes.pagination import PageParams
from proto.common import Page
from proto.datasets import (
    MAX_COLUMNS_PARAM_LENGTH,
    PARQUET_MEDIA_TYPE,
    ChangeFeed,
    Dataset,
    DatasetVersion,
    Label,
    LabelBatch,
    LabelBatchResult,
    RowsPage,
    VersionStats,
)
from services.kit.paging import MAX_PAGE_SIZE
from services.kit.params import SinceParam, VersionPath
from services.kit.routing import PrefixedRouter

router = PrefixedRouter(prefix="/datasets", tags=["datasets"])


@router.get("", response_model=Page[Dataset])
async def list_datasets(page: PageParams, user: CurrentUser, clients: Clients) -> Represented:
    """The user's datasets, newest first, a page at a time."""
    listed = await clients.datasets.list_datasets(user.id, page.cursor, page.limit)
    return Represented(listed.as_json())


@router.get("/changes", response_model=ChangeFeed)
async def get_changes(
    user: CurrentUser,
    clients: Clients,
    since: SinceParam = 0,
    limit: Annotated[int | None, Query(ge=1, le=MAX_PAGE_SIZE)] = None,
) -> ChangeFeed:
    """Delta sync: dataset and label upserts and tombstones after `since`, oldest first."""
    return await clients.datasets.changes(user.id, since, limit)


@router.get("/{dataset_id}", response_model=Dataset)
async def get_dataset(dataset_id: UUID, user: CurrentUser, clients: Clients) -> Dataset:
    """One of the user's datasets."""
    return await clients.datasets.get_dataset(user.id, dataset_id)


@router.delete("/{dataset_id}", status_code=204)
async def delete_dataset(dataset_id: UUID, user: CurrentUser, clients: Clients) -> Response:
    """Delete a dataset (a tombstone reaches the user's other devices through the feed)."""
    await clients.datasets.delete_dataset(user.id, dataset_id)
    return Response(status_code=204)


@router.get("/{dataset_id}/versions", response_model=Page[DatasetVersion])
async def list_versions(
    dataset_id: UUID, page: PageParams, user: CurrentUser, clients: Clients
) -> Page[DatasetVersion]:
    """A dataset's versions, newest first, a page at a time."""
    return await clients.datasets.list_versions(user.id, dataset_id, page.cursor, page.limit)


@router.get("/{dataset_id}/versions/{version}", response_model=DatasetVersion)
async def get_version(
    dataset_id: UUID, version: VersionPath, user: CurrentUser, clients: Clients
) -> DatasetVersion:
    """One version of a dataset."""
    return await clients.datasets.get_version(user.id, dataset_id, version)


@router.get(
    "/{dataset_id}/versions/{version}/content",
    response_class=StreamingResponse,
    responses={200: {"content": {PARQUET_MEDIA_TYPE: {}}}},
)
async def get_version_content(
    dataset_id: UUID, version: VersionPath, user: CurrentUser, clients: Clients
) -> StreamingResponse:
    """The whole version as a Parquet file, streamed through (for offline use on the device)."""
    stack = AsyncExitStack()
    try:
        headers, chunks = await stack.enter_async_context(
            clients.datasets.version_content(user.id, dataset_id, version)
        )
    except BaseException:
        await stack.aclose()
        raise

    async def relay() -> AsyncIterator[bytes]:
        async with stack:  # closes the upstream stream when the phone goes away
            async for chunk in chunks:
                yield chunk

    return StreamingResponse(relay(), media_type=PARQUET_MEDIA_TYPE, headers=headers)


@router.get("/{dataset_id}/versions/{version}/rows", response_model=RowsPage)
async def get_rows(
    dataset_id: UUID,
    version: VersionPath,
    page: PageParams,
    user: CurrentUser,
    clients: Clients,
    columns: Annotated[str | None, Query(max_length=MAX_COLUMNS_PARAM_LENGTH)] = None,
) -> RowsPage:
    """A page of rows; `columns=a,b` selects columns."""
    return await clients.datasets.get_rows(
        user.id, dataset_id, version, page.cursor, page.limit, columns
    )


@router.get("/{dataset_id}/versions/{version}/stats", response_model=VersionStats)
async def get_stats(
    dataset_id: UUID, version: VersionPath, user: CurrentUser, clients: Clients
) -> VersionStats:
    """Per-column statistics of a version."""
    return await clients.datasets.get_stats(user.id, dataset_id, version)


@router.get("/{dataset_id}/versions/{version}/labels", response_model=Page[Label])
async def list_labels(
    dataset_id: UUID, version: VersionPath, page: PageParams, user: CurrentUser, clients: Clients
) -> Page[Label]:
    """The version's labels by row id, a page at a time."""
    return await clients.datasets.list_labels(user.id, dataset_id, version, page.cursor, page.limit)


@router.put("/{dataset_id}/versions/{version}/labels", response_model=LabelBatchResult)
async def upsert_labels(
    dataset_id: UUID,
    version: VersionPath,
    body: LabelBatch,
    user: CurrentUser,
    clients: Clients,
) -> LabelBatchResult:
    """Bulk upsert labels made offline; stale ones come back as conflicts with the server's."""
    return await clients.datasets.upsert_labels(user.id, dataset_id, version, body)
