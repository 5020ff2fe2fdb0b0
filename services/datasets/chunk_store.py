"""Upload chunks on local disk: streamed in, hashed while written, fsynced, renamed into place.

Each upload has a folder ``<root>/<upload_id>``; a kept chunk is named by its index and sha256,
so two different bodies for one index never overwrite each other (the database row decides
which one counts).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

_COPY_BLOCK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ReceivedChunk:
    """A chunk body written to a temp file; `size` stops counting just past the limit."""

    temp_path: Path
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class AssembledFile:
    path: Path
    sha256: str
    size: int


class ChunkStore:
    """The folders where chunks of open uploads wait for completion."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def upload_dir(self, upload_id: uuid.UUID) -> Path:
        return self.root / str(upload_id)

    def chunk_path(self, upload_id: uuid.UUID, n: int, sha256: str) -> Path:
        return self.upload_dir(upload_id) / f"{n:06d}-{sha256}.chunk"

    async def receive(
        self, upload_id: uuid.UUID, body: AsyncIterator[bytes], max_bytes: int
    ) -> ReceivedChunk:
        """Write `body` to a temp file in the upload's folder; stop reading past `max_bytes`."""
        folder = self.upload_dir(upload_id)
        await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
        temp_path = folder / f".incoming-{uuid.uuid4().hex}"
        digest = hashlib.sha256()
        size = 0
        handle = await asyncio.to_thread(temp_path.open, "wb")
        try:
            async for piece in body:
                size += len(piece)
                if size > max_bytes:
                    break
                digest.update(piece)
                handle.write(piece)
            await asyncio.to_thread(_flush_and_sync, handle)
        except BaseException:
            handle.close()
            await asyncio.to_thread(temp_path.unlink, missing_ok=True)
            raise
        handle.close()
        return ReceivedChunk(temp_path, digest.hexdigest(), size)

    async def keep(self, upload_id: uuid.UUID, n: int, chunk: ReceivedChunk) -> Path:
        """Rename a received chunk into place (atomic) and make the rename durable."""
        target = self.chunk_path(upload_id, n, chunk.sha256)
        await asyncio.to_thread(_replace_durably, chunk.temp_path, target)
        return target

    async def discard(self, path: Path) -> None:
        await asyncio.to_thread(path.unlink, missing_ok=True)

    async def assemble(
        self, upload_id: uuid.UUID, chunks: Sequence[tuple[int, str]], target: Path
    ) -> AssembledFile:
        """Concatenate the chunks (index, sha256) in order into `target`, hashing the whole."""
        paths = [self.chunk_path(upload_id, n, sha) for n, sha in sorted(chunks)]
        return await asyncio.to_thread(_concatenate, paths, target)

    async def remove_upload(self, upload_id: uuid.UUID) -> None:
        """Delete everything stored for an upload (after completion or expiry)."""
        await asyncio.to_thread(shutil.rmtree, self.upload_dir(upload_id), ignore_errors=True)


def _flush_and_sync(handle: BinaryIO) -> None:
    handle.flush()
    os.fsync(handle.fileno())


def _replace_durably(source: Path, target: Path) -> None:
    os.replace(source, target)
    directory = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _concatenate(paths: Sequence[Path], target: Path) -> AssembledFile:
    digest = hashlib.sha256()
    size = 0
    with target.open("wb") as out:
        for path in paths:
            with path.open("rb") as chunk:
                while block := chunk.read(_COPY_BLOCK):
                    digest.update(block)
                    size += len(block)
                    out.write(block)
    return AssembledFile(target, digest.hexdigest(), size)


def file_sha256(path: Path) -> str:
    """The hex sha256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_COPY_BLOCK):
            digest.update(block)
    return digest.hexdigest()
