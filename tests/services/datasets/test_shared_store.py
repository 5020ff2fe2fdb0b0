"""Dataset versions in an S3-compatible store (a real S3 server process) reach every replica."""

from __future__ import annotations

from pathlib import Path

from services.datasets.app import create_app
from services.datasets.settings import DatasetsSettings
from tests.support.apps import running_app
from tests.support.dataset_files import read_parquet, sample_csv
from tests.support.datasets_api import CHUNK_SIZE, DatasetsApi, sha256
from tests.support.object_store import S3Server, s3_server
from tests.support.settings import make_settings

__all__ = ["s3_server"]


async def test_a_version_uploaded_through_one_replica_reads_from_another(
    s3_server: S3Server, tmp_path: Path
) -> None:
    bucket = s3_server.new_bucket()
    shared = {
        **s3_server.settings(bucket),
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'datasets.db'}",
        "upload_chunk_size_bytes": CHUNK_SIZE,
    }
    first = make_settings(DatasetsSettings, tmp_path / "replica-1", **shared)
    second = make_settings(DatasetsSettings, tmp_path / "replica-2", **shared)

    async with running_app(create_app(first)) as client:
        version = await DatasetsApi(client).upload(sample_csv(30), filename="people.csv")
        ready = await client.get("/ready")
    async with running_app(create_app(second)) as client:
        api = DatasetsApi(client)
        path = f"/datasets/{version['dataset_id']}/versions/1"
        content = await api.get(f"{path}/content")
        rows = (await api.get(f"{path}/rows", limit=5, columns="id,name")).json()

    assert ready.json()["checks"]["store"] == "ok"
    [key] = s3_server.keys(bucket)
    assert key.startswith(f"tern/datasets/{version['dataset_id']}/")
    assert key.endswith(".parquet")
    assert not (first.service_dir / "store").exists()  # nothing kept in the replica's folder
    assert sha256(content.content) == version["sha256"]
    assert read_parquet(content.content).column("id").to_pylist() == list(range(30))
    assert rows["row_ids"] == [0, 1, 2, 3, 4]
    assert rows["rows"][0] == [0, "name-0"]
