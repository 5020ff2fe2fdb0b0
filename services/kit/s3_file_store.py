"""The file store on an S3-compatible object store (S3, MinIO, R2...) that every replica reaches.

Files stream both ways: a put is a multipart upload read from the local file one part at a
time (a file no larger than one part is a single PUT), reads are streamed GETs, so memory per
transfer is about one part, never a whole file. A failed multipart upload is aborted, so no
orphaned parts keep costing storage. The client (aiobotocore: botocore's signing, retries and
credential chain on aiohttp) opens on first use and closes with `aclose`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import ClientError

from services.kit.file_store import DEFAULT_READ_CHUNK, StoredFileMissing, validate_key

# S3 refuses parts under 5 MiB (all but the last) and over 5 GiB, and uploads over 10,000 parts.
MIN_PART_BYTES = 5 * 1024 * 1024
MAX_PART_BYTES = 5 * 1024 * 1024 * 1024
MAX_PARTS = 10_000
DEFAULT_PART_BYTES = 8 * 1024 * 1024
_MISSING_CODES = frozenset({"404", "NoSuchKey", "NotFound"})


@dataclass(frozen=True, slots=True)
class S3Location:
    """A bucket and the key prefix under it, from `s3://bucket/prefix`."""

    bucket: str
    prefix: str = ""

    @classmethod
    def parse(cls, url: str) -> S3Location:
        scheme, sep, rest = url.partition("://")
        bucket, _, prefix = rest.partition("/")
        if scheme != "s3" or not sep or not bucket:
            raise ValueError(f"a store URL is s3://bucket[/prefix], not {url!r}")
        prefix = prefix.strip("/")
        if prefix:
            validate_key(prefix)
        return cls(bucket, prefix)

    def key_of(self, key: str) -> str:
        key = validate_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key


@dataclass(frozen=True, slots=True)
class S3Connection:
    """Where and as whom to reach the store; unset credentials use the AWS chain (environment,
    web identity as on EKS, instance role)."""

    endpoint_url: str | None = None
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 60.0


class S3FileStore:
    """Files as objects under one bucket and prefix."""

    def __init__(
        self,
        location: S3Location,
        connection: S3Connection | None = None,
        part_bytes: int = DEFAULT_PART_BYTES,
    ) -> None:
        if not MIN_PART_BYTES <= part_bytes <= MAX_PART_BYTES:
            raise ValueError(f"part size must be {MIN_PART_BYTES}-{MAX_PART_BYTES} bytes")
        self.location = location
        self.part_bytes = part_bytes
        self._connection = connection or S3Connection()
        self._client: Any = None
        self._exit: contextlib.AsyncExitStack | None = None
        self._opening = asyncio.Lock()

    async def _s3(self) -> Any:
        if self._client is not None:
            return self._client
        async with self._opening:
            if self._client is None:
                conn = self._connection
                config = AioConfig(
                    connect_timeout=conn.connect_timeout_s,
                    read_timeout=conn.read_timeout_s,
                    retries={"mode": "standard", "max_attempts": 3},
                    # A custom endpoint (MinIO, a test server) seldom resolves bucket subdomains.
                    s3={"addressing_style": "path" if conn.endpoint_url else "auto"},
                )
                stack = contextlib.AsyncExitStack()
                self._client = await stack.enter_async_context(
                    get_session().create_client(
                        "s3",
                        endpoint_url=conn.endpoint_url,
                        region_name=conn.region,
                        aws_access_key_id=conn.access_key_id,
                        aws_secret_access_key=conn.secret_access_key,
                        config=config,
                    )
                )
                self._exit = stack
        return self._client

    async def aclose(self) -> None:
        """Close the client's connections (it opens again on the next call)."""
        exit_stack, self._exit, self._client = self._exit, None, None
        if exit_stack is not None:
            await exit_stack.aclose()

    async def ping(self) -> None:
        """Raises unless the bucket answers (a readiness check)."""
        s3 = await self._s3()
        await s3.head_bucket(Bucket=self.location.bucket)

    async def put(self, key: str, source: Path) -> int:
        name = self.location.key_of(key)
        s3 = await self._s3()
        size = (await asyncio.to_thread(source.stat)).st_size
        handle = await asyncio.to_thread(source.open, "rb")
        try:
            if size <= self.part_bytes:
                body = await asyncio.to_thread(handle.read)
                await s3.put_object(Bucket=self.location.bucket, Key=name, Body=body)
            else:
                await self._put_in_parts(s3, name, handle, size)
        finally:
            handle.close()
        # The protocol moves the file in: the local copy goes once the store holds it.
        await asyncio.to_thread(source.unlink, missing_ok=True)
        return size

    async def _put_in_parts(self, s3: Any, name: str, handle: IO[bytes], size: int) -> None:
        # Parts grow past the configured size only for files over 10,000 of them.
        part_bytes = max(self.part_bytes, -(-size // MAX_PARTS))
        bucket = self.location.bucket
        created = await s3.create_multipart_upload(Bucket=bucket, Key=name)
        upload_id = created["UploadId"]
        try:
            parts = []
            number = 1
            while chunk := await asyncio.to_thread(handle.read, part_bytes):
                answer = await s3.upload_part(
                    Bucket=bucket, Key=name, UploadId=upload_id, PartNumber=number, Body=chunk
                )
                parts.append({"ETag": answer["ETag"], "PartNumber": number})
                number += 1
            await s3.complete_multipart_upload(
                Bucket=bucket, Key=name, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            # Cancelled too: the parts already sent would be billed until a lifecycle rule ran.
            with contextlib.suppress(Exception):
                await asyncio.shield(
                    s3.abort_multipart_upload(Bucket=bucket, Key=name, UploadId=upload_id)
                )
            raise

    async def iter_bytes(
        self, key: str, chunk_size: int = DEFAULT_READ_CHUNK
    ) -> AsyncIterator[bytes]:
        name = self.location.key_of(key)
        async with await self._get(key, name) as body:
            while chunk := await body.read(chunk_size):
                yield chunk

    async def _get(self, key: str, name: str) -> Any:
        """The streaming body of a GET (use it as an async context manager)."""
        s3 = await self._s3()
        try:
            answer = await s3.get_object(Bucket=self.location.bucket, Key=name)
        except ClientError as exc:
            raise _missing_or(exc, key) from exc
        return answer["Body"]

    async def size(self, key: str) -> int:
        name = self.location.key_of(key)
        s3 = await self._s3()
        try:
            answer = await s3.head_object(Bucket=self.location.bucket, Key=name)
        except ClientError as exc:
            raise _missing_or(exc, key) from exc
        return int(answer["ContentLength"])

    async def fetch(self, key: str, target: Path) -> None:
        name = self.location.key_of(key)
        async with await self._get(key, name) as body:
            handle = await asyncio.to_thread(target.open, "wb")
            try:
                while chunk := await body.read(DEFAULT_READ_CHUNK):
                    await asyncio.to_thread(handle.write, chunk)
            finally:
                handle.close()

    async def exists(self, key: str) -> bool:
        try:
            await self.size(key)
        except StoredFileMissing:
            return False
        return True

    async def delete(self, key: str) -> None:
        name = self.location.key_of(key)
        s3 = await self._s3()
        # S3 answers 204 for a missing key too.
        await s3.delete_object(Bucket=self.location.bucket, Key=name)


def _missing_or(exc: ClientError, key: str) -> Exception:
    code = str(exc.response.get("Error", {}).get("Code", ""))
    return StoredFileMissing(key) if code in _MISSING_CODES else exc
