"""Resumable uploads: announce a file, send its chunks (any order, again after a drop), complete."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header, Path, Request

from bff.dependencies import Clients, CurrentUser
from proto.datasets import DatasetVersion, UploadCreate, UploadSession
from services.kit.errors import invalid_input

router = APIRouter(prefix="/uploads", tags=["uploads"])

CHUNKS_PATH = "/api/v1/uploads/"
"""Path prefix of the chunk route, for its own body-size limit."""

_MAX_CHUNK_INDEX = 1_000_000


@router.post("", status_code=201, response_model=UploadSession)
async def create_upload(body: UploadCreate, user: CurrentUser, clients: Clients) -> UploadSession:
    """Announce a file (name, size, SHA-256); the answer says the chunk size."""
    return await clients.datasets.create_upload(user.id, body)


@router.put("/{upload_id}/chunks/{index}", response_model=UploadSession)
async def put_chunk(
    upload_id: UUID,
    index: Annotated[int, Path(ge=0, le=_MAX_CHUNK_INDEX)],
    request: Request,
    user: CurrentUser,
    clients: Clients,
    chunk_sha256: Annotated[str, Header(alias="X-Chunk-SHA256", pattern=r"^[0-9a-fA-F]{64}$")],
) -> UploadSession:
    """Send chunk `index` as the raw body; it streams through to storage, checked by SHA-256."""
    return await clients.datasets.put_chunk(
        user.id,
        upload_id,
        index,
        request.stream(),
        chunk_sha256.lower(),
        _content_length(request.headers.get("content-length")),
    )


@router.get("/{upload_id}", response_model=UploadSession)
async def get_upload(upload_id: UUID, user: CurrentUser, clients: Clients) -> UploadSession:
    """Which chunks arrived, to resume after a drop."""
    return await clients.datasets.get_upload(user.id, upload_id)


@router.post("/{upload_id}/complete", status_code=201, response_model=DatasetVersion)
async def complete_upload(upload_id: UUID, user: CurrentUser, clients: Clients) -> DatasetVersion:
    """Assemble the chunks into a new dataset version."""
    return await clients.datasets.complete_upload(user.id, upload_id)


def _content_length(value: str | None) -> int | None:
    if value is None:
        return None
    if not value.isdigit():
        raise invalid_input("INVALID_CONTENT_LENGTH", "Content-Length must be a whole number")
    return int(value)
