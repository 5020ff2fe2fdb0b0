"""Where services keep files (datasets, model artifacts): one interface, two stores.

Domain code depends on `FileStore` only: `LocalFileStore` (a local directory, the embedded
default) or `S3FileStore` (services/kit/s3_file_store.py, an S3-compatible bucket every
replica reaches), as services/kit/file_store_settings.py picks from the settings. Keys are relative,
slash-separated names chosen by the service (e.g. ``datasets/<id>/<upload>.parquet``), never
user input.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

_KEY_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*(/[A-Za-z0-9_][A-Za-z0-9._-]*)*$")
DEFAULT_READ_CHUNK = 1024 * 1024


class StoredFileMissing(Exception):
    """No file is stored under this key."""

    def __init__(self, key: str) -> None:
        super().__init__(f"no stored file {key!r}")
        self.key = key


class FileStore(Protocol):
    """Put, read, copy out and delete whole files by key."""

    async def put(self, key: str, source: Path) -> int:
        """Move the local file `source` in under `key` (replacing any); returns its size."""
        ...

    def iter_bytes(self, key: str, chunk_size: int = DEFAULT_READ_CHUNK) -> AsyncIterator[bytes]:
        """The stored file's bytes in chunks; raises StoredFileMissing on first read if absent."""
        ...

    async def size(self, key: str) -> int:
        """The stored file's size in bytes; StoredFileMissing if absent."""
        ...

    async def fetch(self, key: str, target: Path) -> None:
        """Copy the stored file to the local path `target` (for libraries that need a path)."""
        ...

    async def exists(self, key: str) -> bool: ...

    async def delete(self, key: str) -> None:
        """Remove the file if present; deleting a missing key is not an error."""
        ...

    async def ping(self) -> None:
        """Raises unless the store answers (a readiness check)."""
        ...

    async def aclose(self) -> None:
        """Release connections (at shutdown)."""
        ...


def validate_key(key: str) -> str:
    """The key itself when it is a safe relative name, else ValueError."""
    if len(key) > 1024 or not _KEY_RE.match(key) or any(p in {".", ".."} for p in key.split("/")):
        raise ValueError(f"invalid storage key {key!r}")
    return key


class LocalFileStore:
    """Files in a local directory; writes land atomically (temp file, fsync, rename)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def path_of(self, key: str) -> Path:
        return self.root / validate_key(key)

    async def put(self, key: str, source: Path) -> int:
        return await asyncio.to_thread(self._put, self.path_of(key), source)

    @staticmethod
    def _put(target: Path, source: Path) -> int:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.with_name(f".{target.name}.incoming")
        shutil.move(source, staging)  # a rename when on the same filesystem
        with staging.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(staging, target)
        return target.stat().st_size

    async def iter_bytes(
        self, key: str, chunk_size: int = DEFAULT_READ_CHUNK
    ) -> AsyncIterator[bytes]:
        path = self.path_of(key)
        try:
            handle = await asyncio.to_thread(path.open, "rb")
        except FileNotFoundError as exc:
            raise StoredFileMissing(key) from exc
        try:
            while chunk := await asyncio.to_thread(handle.read, chunk_size):
                yield chunk
        finally:
            handle.close()

    async def size(self, key: str) -> int:
        try:
            return (await asyncio.to_thread(self.path_of(key).stat)).st_size
        except FileNotFoundError as exc:
            raise StoredFileMissing(key) from exc

    async def fetch(self, key: str, target: Path) -> None:
        try:
            await asyncio.to_thread(shutil.copyfile, self.path_of(key), target)
        except FileNotFoundError as exc:
            raise StoredFileMissing(key) from exc

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self.path_of(key).is_file)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.path_of(key).unlink, missing_ok=True)

    async def ping(self) -> None:
        return None

    async def aclose(self) -> None:
        return None
