"""Client of the datasets service: uploads, datasets, rows, stats, labels, changes; per user."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

from bff.clients.reads import (
    DownstreamPage,
    get_one,
    get_page,
    get_typed_page,
    page_params,
    read_batch,
)
from proto.common import INTERNAL_PREFIX, Page
from proto.datasets import (
    CHUNK_CHECKSUM_HEADER,
    ChangeFeed,
    Dataset,
    DatasetVersion,
    Label,
    LabelBatch,
    LabelBatchResult,
    RowsPage,
    UploadCreate,
    UploadSession,
    VersionStats,
)
from services.kit.http_client import ServiceClient

_PREFIX = INTERNAL_PREFIX


class DatasetsClient:
    """Typed calls to the datasets service."""

    def __init__(self, http: ServiceClient) -> None:
        self._http = http

    async def create_upload(self, user_id: str, upload: UploadCreate) -> UploadSession:
        """Announce a file to upload in chunks."""
        data = await self._http.post_json(f"{_PREFIX}/uploads", user_id=user_id, json=upload)
        return UploadSession.model_validate(data)

    async def put_chunk(
        self,
        user_id: str,
        upload_id: UUID,
        index: int,
        body: AsyncIterable[bytes],
        sha256: str,
        content_length: int | None = None,
    ) -> UploadSession:
        """Stream one chunk through as it arrives (never held whole); not retried."""
        headers = {CHUNK_CHECKSUM_HEADER: sha256, "content-type": "application/octet-stream"}
        if content_length is not None:
            headers["content-length"] = str(content_length)
        async with self._http.stream(
            "PUT",
            f"{_PREFIX}/uploads/{upload_id}/chunks/{index}",
            user_id=user_id,
            content=body,
            headers=headers,
        ) as response:
            return UploadSession.model_validate_json(await response.aread())

    async def get_upload(self, user_id: str, upload_id: UUID) -> UploadSession:
        """Where an upload stands: which chunks arrived."""
        return await get_one(self._http, UploadSession, f"{_PREFIX}/uploads/{upload_id}", user_id)

    async def complete_upload(self, user_id: str, upload_id: UUID) -> DatasetVersion:
        """Assemble the chunks into a new dataset version."""
        data = await self._http.post_json(
            f"{_PREFIX}/uploads/{upload_id}/complete", user_id=user_id
        )
        return DatasetVersion.model_validate(data)

    async def list_datasets(
        self, user_id: str, cursor: str | None = None, limit: int | None = None
    ) -> DownstreamPage:
        """One page of the user's datasets (`Page[Dataset]`)."""
        return await get_page(self._http, f"{_PREFIX}/datasets", user_id, cursor, limit)

    async def get_dataset(self, user_id: str, dataset_id: UUID) -> Dataset:
        """One of the user's datasets."""
        return await get_one(self._http, Dataset, f"{_PREFIX}/datasets/{dataset_id}", user_id)

    async def read_datasets(self, user_id: str, ids: Sequence[str]) -> list[dict[str, Any]]:
        """Those of these datasets (at most 100 ids) that are the user's, as JSON `Dataset`s."""
        return await read_batch(self._http, f"{_PREFIX}/datasets/batch", user_id, {"ids": ids})

    async def read_versions(
        self, user_id: str, keys: Sequence[tuple[str, int]]
    ) -> list[dict[str, Any]]:
        """Those of these (dataset, version) pairs (at most 100) that are the user's, as JSON
        `DatasetVersion`s."""
        body = {"keys": [{"dataset_id": dataset, "version": n} for dataset, n in keys]}
        return await read_batch(self._http, f"{_PREFIX}/datasets/versions/batch", user_id, body)

    async def list_versions(
        self, user_id: str, dataset_id: UUID, cursor: str | None = None, limit: int | None = None
    ) -> Page[DatasetVersion]:
        """One page of a dataset's versions, newest first."""
        path = f"{_PREFIX}/datasets/{dataset_id}/versions"
        return await get_typed_page(self._http, Page[DatasetVersion], path, user_id, cursor, limit)

    async def get_version(self, user_id: str, dataset_id: UUID, version: int) -> DatasetVersion:
        """One version of one of the user's datasets."""
        return await get_one(
            self._http,
            DatasetVersion,
            f"{_PREFIX}/datasets/{dataset_id}/versions/{version}",
            user_id,
        )

    async def delete_dataset(self, user_id: str, dataset_id: UUID) -> None:
        """Soft-delete one of the user's datasets (idempotent)."""
        await self._http.request("DELETE", f"{_PREFIX}/datasets/{dataset_id}", user_id=user_id)

    async def get_rows(
        self,
        user_id: str,
        dataset_id: UUID,
        version: int,
        cursor: str | None = None,
        limit: int | None = None,
        columns: str | None = None,
    ) -> RowsPage:
        """A page of a version's rows, optionally only some columns (comma-separated)."""
        params: dict[str, str | int] = page_params(cursor, limit)
        if columns:
            params["columns"] = columns
        data = await self._http.get_json(
            f"{_PREFIX}/datasets/{dataset_id}/versions/{version}/rows",
            user_id=user_id,
            params=params,
        )
        return RowsPage.model_validate(data)

    async def get_stats(self, user_id: str, dataset_id: UUID, version: int) -> VersionStats:
        """Per-column statistics of a version."""
        return await get_one(
            self._http,
            VersionStats,
            f"{_PREFIX}/datasets/{dataset_id}/versions/{version}/stats",
            user_id,
        )

    async def list_labels(
        self,
        user_id: str,
        dataset_id: UUID,
        version: int,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> Page[Label]:
        """One page of a version's labels, by row id."""
        path = f"{_PREFIX}/datasets/{dataset_id}/versions/{version}/labels"
        return await get_typed_page(self._http, Page[Label], path, user_id, cursor, limit)

    async def upsert_labels(
        self, user_id: str, dataset_id: UUID, version: int, batch: LabelBatch
    ) -> LabelBatchResult:
        """Bulk upsert; stale writes come back as conflicts (safe to replay)."""
        response = await self._http.request(
            "PUT",
            f"{_PREFIX}/datasets/{dataset_id}/versions/{version}/labels",
            user_id=user_id,
            json=batch,
        )
        return LabelBatchResult.model_validate_json(response.content)

    async def changes(self, user_id: str, since: int = 0, limit: int | None = None) -> ChangeFeed:
        """The user's dataset and label changes after `since`."""
        params: dict[str, int] = {"since": since}
        if limit is not None:
            params["limit"] = limit
        data = await self._http.get_json(f"{_PREFIX}/changes", user_id=user_id, params=params)
        return ChangeFeed.model_validate(data)

    @asynccontextmanager
    async def version_content(
        self, user_id: str, dataset_id: UUID, version: int
    ) -> AsyncIterator[tuple[dict[str, str], AsyncIterator[bytes]]]:
        """The version's Parquet file, opened (errors raised here): its headers and raw chunks."""
        async with self._http.stream(
            "GET",
            f"{_PREFIX}/datasets/{dataset_id}/versions/{version}/content",
            user_id=user_id,
            read_timeout_s=60.0,
        ) as response:
            kept = ("content-length", "etag", "content-disposition")
            yield (
                {k: response.headers[k] for k in kept if k in response.headers},
                response.aiter_bytes(),
            )
