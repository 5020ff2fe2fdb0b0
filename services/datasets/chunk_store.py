"""Upload chunks on local disk: streamed in, hashed while written, fsynced, renamed into place.

Each upload has a folder ``<root>/<upload_id>``; a kept chunk is named by its index and sha256,
so two different bodies for one index never overwrite each other (the database row decides
which one counts). A chunk arriving is written to ``.incoming-<random>`` first, and completing
reads the chunks in place and works in ``complete-<random>/``; a crash can leave either behind,
for the sweeper to find.
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

from services.datasets.sources import ChunkedFile

_COPY_BLOCK = 1024 * 1024
_INCOMING_PREFIX = ".incoming-"
_WORK_DIR_PREFIX = "complete-"


@dataclass(frozen=True, slots=True)
class ReceivedChunk:
    """A chunk body written to a temp file; `size` stops counting just past the limit."""

    temp_path: Path
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
        temp_path = folder / f"{_INCOMING_PREFIX}{uuid.uuid4().hex}"
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

    def source(self, upload_id: uuid.UUID, chunks: Sequence[tuple[int, str]]) -> ChunkedFile:
        """The file the chunks (index, sha256) make in order, read where they lie: no copy."""
        return ChunkedFile(tuple(self.chunk_path(upload_id, n, sha) for n, sha in sorted(chunks)))

    async def make_work_dir(self, upload_id: uuid.UUID) -> Path:
        """A fresh folder in the upload's folder for one attempt at completing it."""
        work_dir = self.upload_dir(upload_id) / f"{_WORK_DIR_PREFIX}{uuid.uuid4().hex}"
        await asyncio.to_thread(work_dir.mkdir, parents=True)
        return work_dir

    async def remove_upload(self, upload_id: uuid.UUID) -> None:
        """Delete everything stored for an upload (after completion or expiry)."""
        await asyncio.to_thread(shutil.rmtree, self.upload_dir(upload_id), ignore_errors=True)

    async def upload_ids(self) -> list[uuid.UUID]:
        """The uploads that have a folder here; names this store did not make are left out."""
        return await asyncio.to_thread(_uuid_folders, self.root)

    async def last_written(self, upload_id: uuid.UUID) -> float:
        """When anything in the upload's folder last changed (epoch seconds; 0 if it is gone)."""
        return await asyncio.to_thread(_last_written, self.upload_dir(upload_id))

    async def remove_partials(self, upload_id: uuid.UUID, untouched_since: float) -> int:
        """Delete partial chunks and completion folders not written since then; how many."""
        return await asyncio.to_thread(
            _remove_partials, self.upload_dir(upload_id), untouched_since
        )


def _uuid_folders(root: Path) -> list[uuid.UUID]:
    if not root.is_dir():
        return []
    found: list[uuid.UUID] = []
    for entry in root.iterdir():
        try:
            upload_id = uuid.UUID(entry.name)
        except ValueError:
            continue
        if str(upload_id) == entry.name and entry.is_dir():
            found.append(upload_id)
    return found


def _last_written(path: Path) -> float:
    """The newest modification time of `path` and, for a folder, of everything under it."""
    try:
        newest = path.stat().st_mtime
    except FileNotFoundError:
        return 0.0
    for directory, dirs, files in os.walk(path):
        for name in (*dirs, *files):
            try:
                newest = max(newest, os.stat(os.path.join(directory, name)).st_mtime)
            except FileNotFoundError:
                continue  # removed while we looked: it no longer counts
    return newest


def _remove_partials(folder: Path, untouched_since: float) -> int:
    removed = 0
    try:
        entries = list(folder.iterdir())
    except FileNotFoundError:
        return 0
    for entry in entries:
        if entry.name.startswith(_INCOMING_PREFIX) and entry.is_file():
            if _last_written(entry) < untouched_since:
                entry.unlink(missing_ok=True)
                removed += 1
        elif entry.name.startswith(_WORK_DIR_PREFIX) and entry.is_dir():
            if _last_written(entry) < untouched_since:
                shutil.rmtree(entry, ignore_errors=True)
                removed += 1
    return removed


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


def file_sha256(path: Path) -> str:
    """The hex sha256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_COPY_BLOCK):
            digest.update(block)
    return digest.hexdigest()
