"""The S3-compatible file store against a real S3 server process (moto's) over HTTP."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from services.datasets.settings import DatasetsSettings
from services.kit.file_store import LocalFileStore, StoredFileMissing
from services.kit.file_store_settings import build_file_store
from services.kit.s3_file_store import MIN_PART_BYTES, S3FileStore, S3Location
from tests.support.object_store import S3Server, s3_server

__all__ = ["s3_server"]

_MIB = 1024 * 1024


def _write(path: Path, size: int) -> bytes:
    data = os.urandom(size)
    path.write_bytes(data)
    return data


async def test_put_stream_fetch_delete(s3_server: S3Server, tmp_path: Path) -> None:
    bucket = s3_server.new_bucket()
    store = s3_server.store(bucket, prefix="tern/prod")
    source = tmp_path / "source.bin"
    data = _write(source, 300_000)
    key = "datasets/abc/v1.parquet"
    try:
        size = await store.put(key, source)
        streamed = b"".join([chunk async for chunk in store.iter_bytes(key, 4096)])
        await store.fetch(key, tmp_path / "copy.bin")

        assert size == len(data) == await store.size(key)
        assert streamed == data
        assert (tmp_path / "copy.bin").read_bytes() == data
        assert not source.exists()  # put moves the file in, as the local store does
        assert await store.exists(key)
        assert s3_server.keys(bucket) == ["tern/prod/datasets/abc/v1.parquet"]
        await store.ping()

        await store.delete(key)
        await store.delete(key)  # deleting twice is fine
        assert not await store.exists(key)
        assert s3_server.keys(bucket) == []
    finally:
        await store.aclose()


async def test_a_file_larger_than_a_part_streams_both_ways_in_parts(
    s3_server: S3Server, tmp_path: Path
) -> None:
    bucket = s3_server.new_bucket()
    store = s3_server.store(bucket, part_bytes=MIN_PART_BYTES)
    source = tmp_path / "big.bin"
    data = _write(source, 6 * MIN_PART_BYTES + 12_345)
    size = len(data)
    try:
        await store.ping()  # the client is open: what follows measures transfers only
        tracemalloc.start()
        try:
            await store.put("models/big.bin", source)
            _, put_peak = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            total = 0
            async for chunk in store.iter_bytes("models/big.bin", _MIB):
                total += len(chunk)
            _, read_peak = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            await store.fetch("models/big.bin", tmp_path / "copy.bin")
            _, fetch_peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()

        head = httpx.head(f"{s3_server.endpoint_url}/{bucket}/models/big.bin")
        # A multipart object's ETag is the digest of its parts' digests, then "-<parts>".
        assert head.headers["etag"].strip('"').endswith("-7")
        assert total == size == await store.size("models/big.bin")
        assert (tmp_path / "copy.bin").read_bytes() == data
        # About a part (and the client's copy of it) in memory at a time, never the file.
        assert put_peak < 3 * MIN_PART_BYTES < size / 2
        assert read_peak < 2 * MIN_PART_BYTES
        assert fetch_peak < 2 * MIN_PART_BYTES
    finally:
        await store.aclose()


async def test_a_failed_multipart_upload_is_aborted(s3_server: S3Server, tmp_path: Path) -> None:
    bucket = s3_server.new_bucket()
    store = s3_server.store(bucket)
    # Parts under S3's 5 MiB minimum: the server refuses to complete the upload.
    store.part_bytes = _MIB
    source = tmp_path / "big.bin"
    _write(source, 3 * _MIB)
    try:
        with pytest.raises(Exception, match="EntityTooSmall"):
            await store.put("models/refused.bin", source)

        uploads = httpx.get(f"{s3_server.endpoint_url}/{bucket}", params={"uploads": ""})
        assert "<UploadId>" not in uploads.text  # no parts left behind
        assert not await store.exists("models/refused.bin")
        assert source.exists()  # a failed put leaves the local file where it was
    finally:
        await store.aclose()


async def test_missing_keys(s3_server: S3Server, tmp_path: Path) -> None:
    store = s3_server.store()
    try:
        with pytest.raises(StoredFileMissing):
            await store.size("nope")
        with pytest.raises(StoredFileMissing):
            [chunk async for chunk in store.iter_bytes("nope")]
        with pytest.raises(StoredFileMissing):
            await store.fetch("nope", tmp_path / "copy.bin")
        assert not await store.exists("nope")
        assert not (tmp_path / "copy.bin").exists()
        await store.delete("nope")
    finally:
        await store.aclose()


async def test_a_missing_bucket_fails_readiness(s3_server: S3Server) -> None:
    store = s3_server.store("tern-no-such-bucket")
    try:
        with pytest.raises(Exception, match="404"):
            await store.ping()
    finally:
        await store.aclose()


@pytest.mark.parametrize("key", ["../escape", "/abs", "a/../../b", "a//b", "", "a/./b"])
async def test_unsafe_keys_are_refused_before_any_request(key: str, tmp_path: Path) -> None:
    # No server: a refused key never reaches the network.
    store = S3FileStore(S3Location("bucket"))
    with pytest.raises(ValueError):
        await store.put(key, tmp_path / "file")
    with pytest.raises(ValueError):
        await store.size(key)
    with pytest.raises(ValueError):
        [chunk async for chunk in store.iter_bytes(key)]


@pytest.mark.parametrize(
    ("url", "bucket", "prefix"),
    [("s3://b", "b", ""), ("s3://b/", "b", ""), ("s3://b/tern/prod/", "b", "tern/prod")],
)
def test_store_urls(url: str, bucket: str, prefix: str) -> None:
    assert S3Location.parse(url) == S3Location(bucket, prefix)


@pytest.mark.parametrize("url", ["b/prefix", "http://b", "s3://", "s3:///x", "s3://b/../x"])
def test_bad_store_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        S3Location.parse(url)


def test_settings_pick_the_store(tmp_path: Path) -> None:
    local = build_file_store(DatasetsSettings(data_dir=tmp_path), tmp_path / "store")
    remote = build_file_store(
        DatasetsSettings(
            data_dir=tmp_path,
            store_url="s3://tern-files/datasets",
            store_endpoint_url="http://127.0.0.1:9000",
            store_part_size_bytes=16 * _MIB,
        ),
        tmp_path / "store",
    )

    assert isinstance(local, LocalFileStore)
    assert isinstance(remote, S3FileStore)
    assert remote.location == S3Location("tern-files", "datasets")
    assert remote.part_bytes == 16 * _MIB


def test_store_settings_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="STORE_SECRET_ACCESS_KEY go together"):
        DatasetsSettings(data_dir=tmp_path, store_access_key_id="key")
    with pytest.raises(ValidationError):
        DatasetsSettings(data_dir=tmp_path, store_url="https://bucket")
    with pytest.raises(ValidationError):
        DatasetsSettings(data_dir=tmp_path, store_part_size_bytes=_MIB)
    # Compose and k8s pass an unset optional value as an empty string.
    assert DatasetsSettings(data_dir=tmp_path, store_url="").store_url is None
