"""Client of the datasets service: uploads and datasets, acting for one user."""

from __future__ import annotations

from collections.abc import AsyncIterable
from uuid import UUID

from bff.clients.paging import page_params
from proto.common import Page
from proto.datasets import (
    CHUNK_CHECKSUM_HEADER,
    Dataset,
    DatasetVersion,
    UploadCreate,
    UploadSession,
)
from services.kit.http_client import ServiceClient

_PREFIX = "/internal/v1"


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
        data = await self._http.get_json(f"{_PREFIX}/uploads/{upload_id}", user_id=user_id)
        return UploadSession.model_validate(data)

    async def complete_upload(self, user_id: str, upload_id: UUID) -> DatasetVersion:
        """Assemble the chunks into a new dataset version."""
        data = await self._http.post_json(
            f"{_PREFIX}/uploads/{upload_id}/complete", user_id=user_id
        )
        return DatasetVersion.model_validate(data)

    async def list_datasets(
        self, user_id: str, cursor: str | None = None, limit: int | None = None
    ) -> Page[Dataset]:
        """One page of the user's datasets."""
        data = await self._http.get_json(
            f"{_PREFIX}/datasets", user_id=user_id, params=page_params(cursor, limit)
        )
        return Page[Dataset].model_validate(data)

    async def get_dataset(self, user_id: str, dataset_id: UUID) -> Dataset:
        """One of the user's datasets."""
        data = await self._http.get_json(f"{_PREFIX}/datasets/{dataset_id}", user_id=user_id)
        return Dataset.model_validate(data)

    async def get_version(self, user_id: str, dataset_id: UUID, version: int) -> DatasetVersion:
        """One version of one of the user's datasets."""
        data = await self._http.get_json(
            f"{_PREFIX}/datasets/{dataset_id}/versions/{version}", user_id=user_id
        )
        return DatasetVersion.model_validate(data)
