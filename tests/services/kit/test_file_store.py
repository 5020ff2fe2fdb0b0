"""The local file store: put moves a file in atomically, reads stream it back, keys stay inside."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.kit.file_store import LocalFileStore, StoredFileMissing, validate_key


async def test_put_stream_fetch_delete(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path / "store")
    source = tmp_path / "source.bin"
    data = bytes(range(256)) * 5000
    source.write_bytes(data)

    size = await store.put("datasets/abc/v1.parquet", source)
    key = "datasets/abc/v1.parquet"
    streamed = b"".join([chunk async for chunk in store.iter_bytes(key, 4096)])
    await store.fetch("datasets/abc/v1.parquet", tmp_path / "copy.bin")

    assert size == len(data) == await store.size("datasets/abc/v1.parquet")
    assert streamed == data
    assert (tmp_path / "copy.bin").read_bytes() == data
    assert not source.exists()
    assert await store.exists("datasets/abc/v1.parquet")

    await store.delete("datasets/abc/v1.parquet")
    await store.delete("datasets/abc/v1.parquet")  # deleting twice is fine
    assert not await store.exists("datasets/abc/v1.parquet")


async def test_missing_key(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path)

    with pytest.raises(StoredFileMissing):
        await store.size("nope")
    with pytest.raises(StoredFileMissing):
        [chunk async for chunk in store.iter_bytes("nope")]


@pytest.mark.parametrize("key", ["../escape", "/abs", "a/../../b", "a//b", "", "a/./b"])
def test_unsafe_keys_are_refused(key: str) -> None:
    with pytest.raises(ValueError):
        validate_key(key)
