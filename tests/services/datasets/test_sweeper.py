"""The sweeper: abandoned uploads expire, and what crashes leave behind is freed once stale."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.datasets import uploads
from services.datasets.app import create_app
from services.datasets.context import DatasetsContext
from services.datasets.leftovers import sweep
from services.datasets.uploads import expire_abandoned_uploads
from services.kit.clock import utc_now
from tests.support.apps import running_app
from tests.support.dataset_files import read_parquet, sample_csv
from tests.support.datasets_api import DatasetsApi, SettingsFactory, chunks_of


async def test_expired_uploads_are_marked_and_their_chunks_deleted(
    settings_for: SettingsFactory,
) -> None:
    data = sample_csv(10)
    app = create_app(settings_for(upload_sweep_interval_s=3600))
    context: DatasetsContext = app.state.context
    async with running_app(app) as client:
        api = DatasetsApi(client)
        abandoned = (await api.create_upload(data)).json()["upload_id"]
        await api.put_chunk(abandoned, 0, chunks_of(data)[0])
        finished = await api.upload(sample_csv(3))
        chunk_dir = context.chunks.upload_dir(uuid.UUID(abandoned))
        assert chunk_dir.is_dir()

        expired = await expire_abandoned_uploads(context, datetime.now(UTC) + timedelta(days=2))

        assert expired == 1
        assert not chunk_dir.exists()
        session = (await api.get(f"/uploads/{abandoned}")).json()
        assert session["status"] == "expired"
        assert session["received_chunks"] == []
        late = await api.put_chunk(abandoned, 1, chunks_of(data)[1])
        assert late.status_code == 410
        assert late.json()["error"]["code"] == "UPLOAD_EXPIRED"
        still_there = await api.get(f"/datasets/{finished['dataset_id']}/versions/1/content")
        assert still_there.status_code == 200


async def test_the_sweeper_runs_in_the_background(settings_for: SettingsFactory) -> None:
    data = sample_csv(10)
    app = create_app(settings_for(upload_ttl_s=0.2, upload_sweep_interval_s=0.05))
    async with running_app(app) as client:
        api = DatasetsApi(client)
        upload_id = (await api.create_upload(data)).json()["upload_id"]
        await api.put_chunk(upload_id, 0, chunks_of(data)[0])
        chunk_dir: Path = app.state.context.chunks.upload_dir(uuid.UUID(upload_id))

        for _ in range(50):
            if not chunk_dir.exists():
                break
            await asyncio.sleep(0.05)

        assert not chunk_dir.exists()
        assert (await api.get(f"/uploads/{upload_id}")).json()["status"] == "expired"


# --- what crashes leave behind -----------------------------------------------------------

LATER = timedelta(hours=2)  # past the default safety age of one hour


@pytest.fixture
async def swept(
    settings_for: SettingsFactory, database_url: str | None
) -> AsyncIterator[tuple[DatasetsApi, DatasetsContext]]:
    """The service (on each database available) with its background sweeper idle, so each
    test sweeps when it wants."""
    app = create_app(settings_for(upload_sweep_interval_s=3600, database_url=database_url))
    async with running_app(app) as client:
        yield DatasetsApi(client), app.state.context


def _stored_files(context: DatasetsContext) -> list[Path]:
    root = context.settings.service_dir / "store"
    return sorted(p for p in root.rglob("*") if p.is_file())


async def test_the_chunk_folder_a_crash_left_after_completing_is_freed(
    swept: tuple[DatasetsApi, DatasetsContext], monkeypatch: pytest.MonkeyPatch
) -> None:
    api, context = swept
    # The process dies right after recording the version, before deleting the chunks.
    monkeypatch.setattr(context.chunks, "remove_upload", _no_op)
    version = await api.upload(sample_csv(10))
    monkeypatch.undo()
    [folder] = [p for p in context.chunks.root.iterdir() if p.is_dir()]
    upload_id = uuid.UUID(folder.name)

    fresh = await sweep(context)
    later = await sweep(context, utc_now() + LATER)

    assert fresh.chunk_folders == 0  # could still be in use a moment ago
    assert later.chunk_folders == 1
    assert not context.chunks.upload_dir(upload_id).exists()
    content = await api.get(f"/datasets/{version['dataset_id']}/versions/1/content")
    assert read_parquet(content.content).num_rows == 10


async def test_the_chunk_folder_a_crash_left_after_expiring_is_freed(
    swept: tuple[DatasetsApi, DatasetsContext], monkeypatch: pytest.MonkeyPatch
) -> None:
    api, context = swept
    data = sample_csv(10)
    upload_id = (await api.create_upload(data)).json()["upload_id"]
    await api.put_chunk(upload_id, 0, chunks_of(data)[0])
    in_two_days = utc_now() + timedelta(days=2)
    monkeypatch.setattr(context.chunks, "remove_upload", _no_op)  # dies after marking it
    assert await expire_abandoned_uploads(context, in_two_days) == 1
    monkeypatch.undo()
    folder = context.chunks.upload_dir(uuid.UUID(upload_id))
    assert folder.is_dir()

    result = await sweep(context, in_two_days)

    assert result.chunk_folders == 1
    assert not folder.exists()


async def test_partial_chunks_go_once_stale_and_a_chunk_streaming_in_is_left_alone(
    swept: tuple[DatasetsApi, DatasetsContext],
) -> None:
    api, context = swept
    data = sample_csv(10)
    chunks = chunks_of(data)
    upload_id = (await api.create_upload(data)).json()["upload_id"]
    await api.put_chunk(upload_id, 0, chunks[0])
    folder = context.chunks.upload_dir(uuid.UUID(upload_id))
    crashed = folder / ".incoming-left-by-a-crash"  # the name the store gives a partial chunk
    crashed.write_bytes(chunks[1][:10])
    streaming = asyncio.Event()
    finish = asyncio.Event()

    async def slow_body() -> AsyncIterator[bytes]:
        yield chunks[1][:20]
        streaming.set()
        await finish.wait()
        yield chunks[1][20:]

    receiving = asyncio.create_task(
        context.chunks.receive(uuid.UUID(upload_id), slow_body(), max_bytes=len(chunks[1]))
    )
    await asyncio.wait_for(streaming.wait(), timeout=5)
    while len(list(folder.glob(".incoming-*"))) < 2:  # the live partial is on disk
        await asyncio.sleep(0.01)

    result = await sweep(context)  # now: the crash's partial is fresh too, so both stay
    assert result.partial_files == 0
    os.utime(crashed, (0, 0))  # untouched since long ago
    result = await sweep(context)
    finish.set()
    received = await asyncio.wait_for(receiving, timeout=5)

    assert result.partial_files == 1
    assert not crashed.exists()
    assert received.size == len(chunks[1])
    await context.chunks.discard(received.temp_path)
    for n, chunk in enumerate(chunks[1:], start=1):
        assert (await api.put_chunk(upload_id, n, chunk)).status_code == 200
    assert (await api.complete(upload_id)).status_code == 201


async def test_a_version_file_stored_but_never_recorded_is_freed(
    swept: tuple[DatasetsApi, DatasetsContext], monkeypatch: pytest.MonkeyPatch
) -> None:
    api, context = swept
    data = sample_csv(10)
    upload_id = (await api.create_upload(data)).json()["upload_id"]
    for n, chunk in enumerate(chunks_of(data)):
        await api.put_chunk(upload_id, n, chunk)

    async def crash(*_args: object) -> None:
        raise RuntimeError("the process died here")

    # The file is in the store; the process dies before the version row is committed.
    monkeypatch.setattr(uploads, "_record_version", crash)
    monkeypatch.setattr(uploads, "_discard_unrecorded_file", _no_op)
    assert (await api.complete(upload_id)).status_code == 500
    monkeypatch.undo()
    [orphan] = _stored_files(context)

    fresh = await sweep(context)
    assert fresh.version_files == 0  # a complete could still be about to record it
    assert orphan.exists()
    later = await sweep(context, utc_now() + LATER)
    assert later.version_files == 1
    assert not orphan.exists()

    version = (await api.complete(upload_id)).json()  # the upload is still open: try again
    [recorded] = _stored_files(context)
    assert (await sweep(context, utc_now() + LATER)).version_files == 0
    assert recorded.exists()
    content = await api.get(f"/datasets/{version['dataset_id']}/versions/1/content")
    assert read_parquet(content.content).num_rows == 10


async def _no_op(*_args: object) -> None:
    return None
