"""Abandoned uploads expire: the sweeper marks them and frees their disk space."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from services.datasets.app import create_app
from services.datasets.context import DatasetsContext
from services.datasets.uploads import expire_abandoned_uploads
from tests.services.datasets.conftest import (
    DatasetsApi,
    SettingsFactory,
    chunks_of,
    sample_csv,
)
from tests.support.apps import running_app


async def test_expired_uploads_are_marked_and_their_chunks_deleted(
    settings_for: SettingsFactory,
) -> None:
    data = sample_csv(10)
    app = create_app(settings_for(upload_sweep_interval_s=3600))
    context: DatasetsContext = app.state.datasets
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
        chunk_dir: Path = app.state.datasets.chunks.upload_dir(uuid.UUID(upload_id))

        for _ in range(50):
            if not chunk_dir.exists():
                break
            await asyncio.sleep(0.05)

        assert not chunk_dir.exists()
        assert (await api.get(f"/uploads/{upload_id}")).json()["status"] == "expired"
