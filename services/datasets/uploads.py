"""Resumable chunked uploads: open a session, receive chunks, complete into a dataset version.

Chunks are recorded in the database as they arrive, so a restart loses none of them. Completing
checks the file (its chunks read in order, never copied into one), converts it to Parquet,
stores it and records the version in one transaction; a failure on the way leaves nothing
visible, and completing twice answers the same version.
"""

from __future__ import annotations

import asyncio
import math
import re
import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from proto.datasets import DatasetFormat, DatasetVersion, UploadCreate, UploadSession
from services.datasets import repository
from services.datasets.catalog import dataset_contract, version_contract
from services.datasets.changes import DATASET, VERSION, dataset_key, version_key
from services.datasets.chunk_store import ReceivedChunk, file_sha256
from services.datasets.column_profiles import ColumnProfile
from services.datasets.context import DatasetsContext
from services.datasets.parsing import FileRejected, ParsedDataset, convert_to_parquet, detect_format
from services.datasets.sources import ChunkedFile, SourceDigest, source_digest
from services.datasets.tables import (
    FEED,
    DatasetRow,
    DatasetVersionRow,
    UnrecordedFileRow,
    UploadChunkRow,
    UploadRow,
)
from services.kit.change_feed import change_writer
from services.kit.clock import utc_now
from services.kit.errors import Action, ApiError, invalid_input, not_found
from services.kit.structured_logging import get_logger

_log = get_logger(__name__)
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_MISSING_LISTED = 50  # how many missing chunk indexes an error names


# --- session -------------------------------------------------------------------------------


def upload_session(row: UploadRow, received: list[int], now: datetime) -> UploadSession:
    status = row.status
    if status == "open" and row.expires_at <= now:
        status = "expired"  # the sweeper has not come by yet
    return UploadSession(
        upload_id=row.id,
        filename=row.filename,
        size=row.size,
        chunk_size=row.chunk_size,
        chunk_count=row.chunk_count,
        received_chunks=sorted(received),
        status=status,
        expires_at=row.expires_at,
        dataset_id=row.dataset_id,
        version=row.version,
    )


def expected_chunk_length(row: UploadRow, n: int) -> int:
    """chunk_size for every chunk but the last, which holds the remainder."""
    if n < row.chunk_count - 1:
        return row.chunk_size
    return row.size - row.chunk_size * (row.chunk_count - 1)


async def create_upload(ctx: DatasetsContext, owner_id: str, body: UploadCreate) -> UploadSession:
    """Open an upload session for a file of `body.size` bytes."""
    settings = ctx.settings
    if body.size == 0:
        raise invalid_input(
            "EMPTY_FILE",
            "the file is empty (0 bytes): there is nothing to upload",
            filename=body.filename,
        )
    if body.size > settings.max_file_bytes:
        raise ApiError(
            413,
            "FILE_TOO_LARGE",
            f"the file has {body.size} bytes, at most {settings.max_file_bytes} are allowed",
            action=Action.FIX_INPUT,
            details={"max_bytes": settings.max_file_bytes},
        )
    file_format = detect_format(body.filename, body.content_type)
    if file_format is None:
        raise invalid_input(
            "UNSUPPORTED_FORMAT",
            "the file must be CSV (.csv, .tsv), JSON Lines (.jsonl) or Parquet (.parquet)",
            filename=body.filename,
        )
    now = utc_now()
    filename = Path(body.filename).name or body.filename
    row = UploadRow(
        id=uuid.uuid4(),
        owner_id=owner_id,
        filename=filename,
        name=(body.name or Path(filename).stem or filename)[:200],
        format=file_format,
        size=body.size,
        sha256=body.sha256,
        chunk_size=settings.upload_chunk_size_bytes,
        chunk_count=math.ceil(body.size / settings.upload_chunk_size_bytes),
        status="open",
        dataset_id=body.dataset_id,
        created_at=now,
        expires_at=now + timedelta(seconds=settings.upload_ttl_s),
    )
    async with ctx.db.transaction() as session:
        if body.dataset_id is not None:
            if await repository.get_dataset(session, owner_id, body.dataset_id) is None:
                raise not_found("dataset", body.dataset_id)
        if await repository.count_open_uploads(session, owner_id, now) >= (
            settings.max_open_uploads_per_user
        ):
            raise ApiError(
                409,
                "TOO_MANY_OPEN_UPLOADS",
                f"at most {settings.max_open_uploads_per_user} uploads may be open at once; "
                "complete or abandon one first",
                details={"max_open_uploads": settings.max_open_uploads_per_user},
            )
        session.add(row)
    return upload_session(row, [], now)


async def get_upload(ctx: DatasetsContext, owner_id: str, upload_id: uuid.UUID) -> UploadSession:
    """The session with the chunks received so far, so a client knows what to resend."""
    async with ctx.db.session() as session:
        row = await _owned_upload(session, owner_id, upload_id)
        chunks = await repository.list_chunks(session, upload_id)
    return upload_session(row, [chunk.n for chunk in chunks], utc_now())


async def _owned_upload(session: AsyncSession, owner_id: str, upload_id: uuid.UUID) -> UploadRow:
    row = await repository.get_upload(session, owner_id, upload_id)
    if row is None:
        raise not_found("upload", upload_id)
    return row


def _ensure_open(row: UploadRow, now: datetime) -> None:
    if row.status == "completed":
        raise ApiError(
            409, "UPLOAD_COMPLETED", f"upload {row.id} is already completed", retry_allowed=False
        )
    if row.status == "expired" or row.expires_at <= now:
        raise ApiError(
            410,
            "UPLOAD_EXPIRED",
            f"upload {row.id} expired at {row.expires_at.isoformat()}; start a new upload",
            user_message="This upload took too long. Please start it again.",
        )


# --- chunks --------------------------------------------------------------------------------


async def receive_chunk(
    ctx: DatasetsContext,
    owner_id: str,
    upload_id: uuid.UUID,
    n: int,
    declared_sha256: str | None,
    body: AsyncIterator[bytes],
) -> UploadSession:
    """Store chunk `n` if its length and checksum are right; the same chunk again is a no-op."""
    declared = _declared_checksum(declared_sha256)
    async with ctx.db.session() as session:
        row = await _owned_upload(session, owner_id, upload_id)
    _ensure_open(row, utc_now())
    if not 0 <= n < row.chunk_count:
        raise invalid_input(
            "CHUNK_INDEX_OUT_OF_RANGE",
            f"chunk {n} is out of range: this upload has chunks 0 to {row.chunk_count - 1}",
            chunk=n,
            chunk_count=row.chunk_count,
        )
    expected = expected_chunk_length(row, n)
    received = await ctx.chunks.receive(upload_id, body, max_bytes=expected)
    try:
        if received.size != expected:
            raise invalid_input(
                "CHUNK_SIZE_INVALID",
                f"chunk {n} must have exactly {expected} bytes"
                + ("" if received.size < expected else ", it has more"),
                chunk=n,
                expected_bytes=expected,
            )
        if received.sha256 != declared:
            raise invalid_input(
                "CHUNK_CHECKSUM_MISMATCH",
                f"chunk {n} does not match its X-Chunk-SHA256: "
                f"the body hashes to {received.sha256}",
                chunk=n,
            )
        await _record_chunk(ctx, upload_id, n, received)
    finally:
        await ctx.chunks.discard(received.temp_path)
    return await get_upload(ctx, owner_id, upload_id)


def _declared_checksum(value: str | None) -> str:
    if value is None:
        raise invalid_input(
            "CHUNK_CHECKSUM_REQUIRED",
            "the X-Chunk-SHA256 header (hex sha256 of the chunk) is required",
        )
    declared = value.strip().lower()
    if not _SHA256_RE.match(declared):
        raise invalid_input("CHUNK_CHECKSUM_INVALID", "X-Chunk-SHA256 must be 64 hex digits")
    return declared


async def _record_chunk(
    ctx: DatasetsContext, upload_id: uuid.UUID, n: int, received: ReceivedChunk
) -> None:
    sha256, size = received.sha256, received.size
    async with ctx.db.session() as session:
        existing = await repository.get_chunk(session, upload_id, n)
    if existing is not None:
        _same_chunk_or_conflict(existing, n, sha256)
        return
    kept = await ctx.chunks.keep(upload_id, n, received)
    try:
        async with ctx.db.transaction() as session:
            session.add(UploadChunkRow(upload_id=upload_id, n=n, sha256=sha256, size=size))
    except IntegrityError:
        # Another request stored chunk n first; the same bytes share one file name.
        async with ctx.db.session() as session:
            winner = await repository.get_chunk(session, upload_id, n)
        if winner is None or winner.sha256 != sha256:
            await ctx.chunks.discard(kept)
        if winner is not None:
            _same_chunk_or_conflict(winner, n, sha256)


def _same_chunk_or_conflict(existing: UploadChunkRow, n: int, sha256: str) -> None:
    if existing.sha256 != sha256:
        raise ApiError(
            409,
            "CHUNK_CONFLICT",
            f"chunk {n} was already received with different content (sha256 {existing.sha256})",
            details={"chunk": n, "sha256": existing.sha256},
        )


# --- completion ----------------------------------------------------------------------------


async def complete_upload(
    ctx: DatasetsContext, owner_id: str, upload_id: uuid.UUID
) -> DatasetVersion:
    """Turn a fully received upload into a new dataset, or version n+1 of its target dataset."""
    async with ctx.db.session() as session:
        row = await _owned_upload(session, owner_id, upload_id)
        if row.status == "completed":
            return await _completed_version(ctx, owner_id, row)
        _ensure_open(row, utc_now())
        stored_chunks = await repository.list_chunks(session, upload_id)
        chunks = [(chunk.n, chunk.sha256) for chunk in stored_chunks]
        if row.dataset_id is not None and (
            await repository.get_dataset(session, owner_id, row.dataset_id) is None
        ):
            raise not_found("dataset", row.dataset_id)
    _ensure_all_chunks(row, {n for n, _ in chunks})
    work_dir = await ctx.chunks.make_work_dir(upload_id)
    try:
        version = await _convert_and_record(ctx, row, chunks, work_dir)
    except OSError:
        # A concurrent complete that won removes the upload's folder, this work dir with it:
        # then answer what it recorded. Any other failure of the files stands.
        if not await _completed_meanwhile(ctx, owner_id, upload_id):
            raise
        version = None
    finally:
        await asyncio.to_thread(shutil.rmtree, work_dir, ignore_errors=True)
    if version is None:
        return await _answer_after_lost_race(ctx, owner_id, upload_id)
    await ctx.chunks.remove_upload(upload_id)
    _log.info(
        "dataset_version_created", dataset_id=str(version.dataset_id), version=version.version
    )
    return version


async def _completed_meanwhile(ctx: DatasetsContext, owner_id: str, upload_id: uuid.UUID) -> bool:
    async with ctx.db.session() as session:
        row = await _owned_upload(session, owner_id, upload_id)
    return row.status == "completed"


async def _answer_after_lost_race(
    ctx: DatasetsContext, owner_id: str, upload_id: uuid.UUID
) -> DatasetVersion:
    """Another request completed (or expired) the upload meanwhile: answer what it recorded."""
    async with ctx.db.session() as session:
        row = await _owned_upload(session, owner_id, upload_id)
    if row.status == "completed":
        return await _completed_version(ctx, owner_id, row)
    _ensure_open(row, utc_now())
    raise ApiError(
        409,
        "UPLOAD_BUSY",
        f"upload {upload_id} is being completed by another request; try again",
        action=Action.RETRY,
        retry_allowed=True,
        retry_after_s=1,
    )


async def _completed_version(ctx: DatasetsContext, owner_id: str, row: UploadRow) -> DatasetVersion:
    assert row.dataset_id is not None and row.version is not None
    async with ctx.db.session() as session:
        version = await repository.get_version(session, owner_id, row.dataset_id, row.version)
    if version is None:
        raise not_found("dataset_version", f"{row.dataset_id} v{row.version}")
    return version_contract(version)


def _ensure_all_chunks(row: UploadRow, received: set[int]) -> None:
    missing = [n for n in range(row.chunk_count) if n not in received]
    if missing:
        listed = ", ".join(str(n) for n in missing[:_MISSING_LISTED])
        extra = len(missing) - _MISSING_LISTED
        more = f" and {extra} more" if extra > 0 else ""
        raise ApiError(
            409,
            "UPLOAD_INCOMPLETE",
            f"{len(missing)} of {row.chunk_count} chunks are missing: {listed}{more}",
            user_message="The upload is not finished yet.",
            details={"missing_chunks": missing[:_MISSING_LISTED], "missing_count": len(missing)},
        )


async def _convert_and_record(
    ctx: DatasetsContext, row: UploadRow, chunks: list[tuple[int, str]], work_dir: Path
) -> DatasetVersion | None:
    """Check, convert, store and record; None when another complete got there first."""
    parquet = work_dir / "content.parquet"
    parsed = await _checked_conversion(ctx, row, ctx.chunks.source(row.id, chunks), parquet)
    content_sha256 = await asyncio.to_thread(file_sha256, parquet)
    dataset_id = row.dataset_id or uuid.uuid4()
    # A key of its own per attempt: a complete that loses a race deletes only its own file,
    # never the one the winner recorded.
    storage_key = f"datasets/{dataset_id}/{row.id}-{uuid.uuid4().hex[:12]}.parquet"
    # Journaled first, so a crash before the version row is committed leaves a trace the
    # sweeper follows to free the file.
    async with ctx.db.transaction() as session:
        session.add(UnrecordedFileRow(storage_key=storage_key, created_at=utc_now()))
    content_size = await ctx.files.put(storage_key, parquet)
    stored = _StoredVersion(dataset_id, storage_key, content_size, content_sha256, parsed)
    try:
        version = await _record_version(ctx, row, stored)
    except BaseException:
        await _discard_unrecorded_file(ctx, storage_key)
        raise
    if version is None:
        await _discard_unrecorded_file(ctx, storage_key)
    return version


async def _checked_conversion(
    ctx: DatasetsContext, row: UploadRow, source: ChunkedFile, parquet: Path
) -> ParsedDataset:
    """Convert the chunks, read in order where they lie, to `parquet`.

    The whole-file sha256 is computed on a thread beside the conversion rather than in a pass
    before it, and decides first: a file that is not the one announced is refused as such,
    whatever its conversion found.
    """
    digest = asyncio.ensure_future(asyncio.to_thread(source_digest, source))
    file_format: DatasetFormat = row.format  # type: ignore[assignment]
    try:
        parsed = await asyncio.to_thread(
            convert_to_parquet, source, file_format, parquet, ctx.parse_limits
        )
    except FileRejected as exc:
        _ensure_announced_file(row, await digest)
        raise invalid_input(exc.code, exc.message, **exc.details) from exc
    except BaseException:
        digest.cancel()  # the thread finishes on its own; nobody waits for its answer
        raise
    _ensure_announced_file(row, await digest)
    return parsed


def _ensure_announced_file(row: UploadRow, digest: SourceDigest) -> None:
    if digest.sha256 != row.sha256 or digest.size != row.size:
        raise invalid_input(
            "FILE_CHECKSUM_MISMATCH",
            f"the assembled file hashes to {digest.sha256}, the upload announced {row.sha256}",
            expected_sha256=row.sha256,
            actual_sha256=digest.sha256,
        )


async def _discard_unrecorded_file(ctx: DatasetsContext, storage_key: str) -> None:
    """Delete a stored file whose version was not recorded, then its journal row."""
    await ctx.files.delete(storage_key)
    async with ctx.db.transaction() as session:
        await repository.forget_unrecorded_file(session, storage_key)


@dataclass(frozen=True, slots=True)
class _StoredVersion:
    """A converted file already in the file store, waiting for its database rows."""

    dataset_id: uuid.UUID
    key: str
    size: int
    sha256: str
    parsed: ParsedDataset


async def _record_version(
    ctx: DatasetsContext, upload: UploadRow, stored: _StoredVersion
) -> DatasetVersion | None:
    now = utc_now()
    try:
        async with (
            ctx.db.transaction() as session,
            change_writer(session, FEED, upload.owner_id) as changes,
        ):
            dataset = await _dataset_for_next_version(session, upload, stored.dataset_id, now)
            version = DatasetVersionRow(
                dataset_id=stored.dataset_id,
                version=dataset.latest_version,
                format=upload.format,
                row_count=stored.parsed.row_count,
                size_bytes=stored.size,
                sha256=stored.sha256,
                source_size_bytes=upload.size,
                source_sha256=upload.sha256,
                source_encoding=stored.parsed.encoding,
                columns=[_column_json(column) for column in stored.parsed.columns],
                storage_key=stored.key,
                upload_id=upload.id,
                created_at=now,
                stats=[stats.model_dump(mode="json") for stats in stored.parsed.stats],
            )
            session.add(version)
            await session.flush()
            await repository.forget_unrecorded_file(session, stored.key)
            if not await repository.mark_upload_completed(
                session, upload.id, stored.dataset_id, version.version, now
            ):
                raise _LostRace
            recorded = version_contract(version)
            await changes.record(
                VERSION,
                version_key(dataset.id, version.version),
                "upsert",
                recorded.model_dump(mode="json"),
                now,
            )
            await changes.record(
                DATASET,
                dataset_key(dataset.id),
                "upsert",
                dataset_contract(dataset, version).model_dump(mode="json"),
                now,
            )
    except (_LostRace, IntegrityError):
        return None
    return recorded


class _LostRace(Exception):
    """The upload stopped being open while we converted it; roll back."""


async def _dataset_for_next_version(
    session: AsyncSession, upload: UploadRow, dataset_id: uuid.UUID, now: datetime
) -> DatasetRow:
    """The dataset with `latest_version` moved to the version being recorded."""
    if upload.dataset_id is None:
        dataset = DatasetRow(
            id=dataset_id,
            owner_id=upload.owner_id,
            name=upload.name,
            latest_version=1,
            created_at=now,
            updated_at=now,
        )
        session.add(dataset)
        await session.flush()
        return dataset
    found = await repository.get_dataset(session, upload.owner_id, dataset_id, for_update=True)
    if found is None:
        raise not_found("dataset", dataset_id)
    found.latest_version += 1
    found.updated_at = now
    return found


def _column_json(column: ColumnProfile) -> dict[str, object]:
    return {
        "name": column.name,
        "type": column.type,
        "nulls": column.nulls,
        "distinct_estimate": column.distinct_estimate,
    }


# --- expiry --------------------------------------------------------------------------------


async def expire_abandoned_uploads(
    ctx: DatasetsContext, now: datetime | None = None, batch: int = 100
) -> int:
    """Mark open uploads past their expiry as expired and delete their chunks; returns how many."""
    now = now or utc_now()
    expired = 0
    while True:
        async with ctx.db.transaction() as session:
            upload_ids = await repository.expired_open_uploads(session, now, batch)
            if upload_ids:
                await repository.mark_uploads_expired(session, upload_ids)
        for upload_id in upload_ids:
            await ctx.chunks.remove_upload(upload_id)
        expired += len(upload_ids)
        if len(upload_ids) < batch:
            return expired
