"""Resumable uploads: announce a file, send its chunks (any order, again after a drop), complete."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated
from uuid import UUID

from fastapi import Header, Path, Request
from starlette.requests import ClientDisconnect

from bff.dependencies import Clients, CurrentUser
from proto.datasets import DatasetVersion, UploadCreate, UploadSession
from services.kit.errors import ApiError, invalid_input
from services.kit.http_client import DownstreamUnavailable
from services.kit.routing import PrefixedRouter

router = PrefixedRouter(prefix="/uploads", tags=["uploads"])

CHUNKS_PATH = "/api/v1/uploads/"
"""Path prefix of the chunk route, for its own body-size limit."""

_MAX_CHUNK_INDEX = 1_000_000
# How long the rest of a chunk is read and dropped after a failure, so that the phone's
# connection stays usable; a phone slower than this gets its answer on a closing connection.
_DRAIN_TIMEOUT_S = 10.0


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
    body = _ChunkBody(request)
    try:
        return await clients.datasets.put_chunk(
            user.id,
            upload_id,
            index,
            body,
            chunk_sha256.lower(),
            _content_length(request.headers.get("content-length")),
        )
    except ApiError as exc:
        await body.settle(exc)
        raise
    except DownstreamUnavailable as exc:
        error = exc.to_api_error()
        await body.settle(error)
        raise error from exc


@router.get("/{upload_id}", response_model=UploadSession)
async def get_upload(upload_id: UUID, user: CurrentUser, clients: Clients) -> UploadSession:
    """Which chunks arrived, to resume after a drop."""
    return await clients.datasets.get_upload(user.id, upload_id)


@router.post("/{upload_id}/complete", status_code=201, response_model=DatasetVersion)
async def complete_upload(upload_id: UUID, user: CurrentUser, clients: Clients) -> DatasetVersion:
    """Assemble the chunks into a new dataset version."""
    return await clients.datasets.complete_upload(user.id, upload_id)


class _ChunkBody:
    """The phone's chunk as it arrives, passed on piece by piece; knows whether it all came.

    When the datasets service fails mid-chunk (it crashed, say), the answer goes out with part
    of the request still unread. Over HTTP/1.1 the phone would then reuse a connection whose
    next request the server never reads, so the rest is read and dropped first.
    """

    def __init__(self, request: Request) -> None:
        self._request = request
        self._complete = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for piece in self._request.stream():
            yield piece
        self._complete = True

    async def settle(self, error: ApiError) -> None:
        """Before `error` answers, read and drop the rest of the body, or have it close."""
        if not self._complete and not await self._drained():
            error.headers["connection"] = "close"

    async def _drained(self) -> bool:
        try:
            async with asyncio.timeout(_DRAIN_TIMEOUT_S):
                async for _piece in self._request.stream():
                    pass
        except RuntimeError:
            return True  # "Stream consumed": its last piece had been read already
        except (ClientDisconnect, TimeoutError):
            return False  # the phone is gone, or too slow to wait for
        return True


def _content_length(value: str | None) -> int | None:
    if value is None:
        return None
    if not value.isdigit():
        raise invalid_input("INVALID_CONTENT_LENGTH", "Content-Length must be a whole number")
    return int(value)
