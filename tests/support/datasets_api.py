"""The datasets service's internal API as a test calls it: chunked uploads, reads, labels."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from services.datasets.settings import DatasetsSettings
from tests.support.apps import service_headers

# Small chunks, so a tiny CSV spans several of them.
CHUNK_SIZE = 64
ALICE = "user-alice"
BOB = "user-bob"

SettingsFactory = Callable[..., DatasetsSettings]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def headers(user: str = ALICE) -> dict[str, str]:
    return service_headers("datasets", user)


def chunks_of(data: bytes, size: int = CHUNK_SIZE) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@dataclass
class DatasetsApi:
    """The service's internal API as a test calls it."""

    client: httpx.AsyncClient

    async def create_upload(
        self, data: bytes, user: str = ALICE, filename: str = "people.csv", **extra: Any
    ) -> httpx.Response:
        body = {"filename": filename, "size": len(data), "sha256": sha256(data), **extra}
        return await self.client.post("/internal/v1/uploads", json=body, headers=headers(user))

    async def put_chunk(
        self, upload_id: str, n: int, chunk: bytes, user: str = ALICE, checksum: str | None = None
    ) -> httpx.Response:
        return await self.client.put(
            f"/internal/v1/uploads/{upload_id}/chunks/{n}",
            content=chunk,
            headers={**headers(user), "X-Chunk-SHA256": checksum or sha256(chunk)},
        )

    async def complete(self, upload_id: str, user: str = ALICE) -> httpx.Response:
        return await self.client.post(
            f"/internal/v1/uploads/{upload_id}/complete", headers=headers(user)
        )

    async def send(
        self, data: bytes, user: str = ALICE, filename: str = "people.csv", **extra: Any
    ) -> str:
        """Create an upload and send every chunk of `data`; the upload's id (not completed)."""
        created = await self.create_upload(data, user, filename, **extra)
        assert created.status_code == 201, created.text
        upload_id: str = created.json()["upload_id"]
        for n, chunk in enumerate(chunks_of(data, created.json()["chunk_size"])):
            sent = await self.put_chunk(upload_id, n, chunk, user)
            assert sent.status_code == 200, sent.text
        return upload_id

    async def upload(
        self, data: bytes, user: str = ALICE, filename: str = "people.csv", **extra: Any
    ) -> dict[str, Any]:
        """Create, send every chunk, complete; the created DatasetVersion."""
        upload_id = await self.send(data, user, filename, **extra)
        completed = await self.complete(upload_id, user)
        assert completed.status_code == 201, completed.text
        version: dict[str, Any] = completed.json()
        return version

    async def get(self, path: str, user: str = ALICE, **params: Any) -> httpx.Response:
        return await self.client.get(f"/internal/v1{path}", headers=headers(user), params=params)

    async def delete(self, path: str, user: str = ALICE) -> httpx.Response:
        return await self.client.delete(f"/internal/v1{path}", headers=headers(user))

    async def put_labels(
        self, dataset_id: str, labels: list[dict[str, Any]], user: str = ALICE, version: int = 1
    ) -> httpx.Response:
        return await self.client.put(
            f"/internal/v1/datasets/{dataset_id}/versions/{version}/labels",
            json={"labels": labels},
            headers=headers(user),
        )

    async def changes(self, since: int = 0, user: str = ALICE, **params: Any) -> dict[str, Any]:
        response = await self.get("/changes", user, since=since, **params)
        assert response.status_code == 200, response.text
        feed: dict[str, Any] = response.json()
        return feed
