"""The datasets service, as the training service uses it."""

from __future__ import annotations

import uuid
from pathlib import Path

from proto.common import INTERNAL_PREFIX
from proto.datasets import Dataset, DatasetVersion
from services.kit.http_client import ServiceClient

_PREFIX = f"{INTERNAL_PREFIX}/datasets"


class DatasetTooLarge(Exception):
    """The dataset's bytes exceed what one training job may read."""


class DatasetsClient:
    def __init__(self, client: ServiceClient) -> None:
        self._client = client

    async def get_dataset(self, owner_id: str, dataset_id: uuid.UUID) -> Dataset:
        """The dataset as its owner sees it; another user's answers the datasets service's 404."""
        data = await self._client.get_json(f"{_PREFIX}/{dataset_id}", user_id=owner_id)
        return Dataset.model_validate(data)

    async def get_version(
        self, owner_id: str, dataset_id: uuid.UUID, version: int
    ) -> DatasetVersion:
        """One version of the dataset, with its columns and row count."""
        data = await self._client.get_json(
            f"{_PREFIX}/{dataset_id}/versions/{version}", user_id=owner_id
        )
        return DatasetVersion.model_validate(data)

    async def download_parquet(
        self,
        owner_id: str,
        dataset_id: uuid.UUID,
        version: int,
        destination: Path,
        *,
        max_bytes: int,
    ) -> int:
        """Stream the version's Parquet bytes into `destination`; the number of bytes written."""
        path = f"{_PREFIX}/{dataset_id}/versions/{version}/content"
        written = 0
        destination.parent.mkdir(parents=True, exist_ok=True)
        async with self._client.stream("GET", path, user_id=owner_id) as response:
            with destination.open("wb") as out:
                async for chunk in response.aiter_bytes():
                    written += len(chunk)
                    if written > max_bytes:
                        raise DatasetTooLarge(f"the dataset is larger than {max_bytes} bytes")
                    out.write(chunk)
        return written
