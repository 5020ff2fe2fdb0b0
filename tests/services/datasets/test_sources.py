"""An upload's chunk files read in order as one seekable stream, never copied into one file."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import pytest

from services.datasets.sources import ChunkedFile, open_source, source_digest


def _chunked(tmp_path: Path, sizes: list[int], seed: int = 1) -> tuple[ChunkedFile, bytes]:
    rng = random.Random(seed)
    parts = []
    for n, size in enumerate(sizes):
        part = tmp_path / f"{n:06d}.chunk"
        part.write_bytes(rng.randbytes(size))
        parts.append(part)
    return ChunkedFile(tuple(parts)), b"".join(p.read_bytes() for p in parts)


@pytest.mark.parametrize("sizes", [[5], [64, 64, 7], [0, 3, 0, 0, 200_000, 1], [1] * 40])
def test_reads_and_seeks_as_one_file(tmp_path: Path, sizes: list[int]) -> None:
    source, whole = _chunked(tmp_path, sizes)
    rng = random.Random(2)

    with open_source(source) as stream:
        assert stream.read() == whole
        for _ in range(200):
            start, length = rng.randint(0, len(whole) + 2), rng.randint(0, 70_000)
            stream.seek(start)
            assert stream.read(length) == whole[start : start + length]
            assert stream.tell() == min(start + length, max(start, len(whole)))
        stream.seek(-1, 2)
        assert stream.read() == whole[-1:]


def test_digest_covers_every_part_in_order(tmp_path: Path) -> None:
    source, whole = _chunked(tmp_path, [64, 64, 10])

    digest = source_digest(source)

    assert (digest.sha256, digest.size) == (hashlib.sha256(whole).hexdigest(), len(whole))
    assert source_digest(tmp_path / "000000.chunk").size == 64  # a plain path reads the same


def test_a_part_removed_meanwhile_surfaces_as_file_not_found(tmp_path: Path) -> None:
    # Another complete that won removes the upload's chunks: the loser must see an OSError.
    source, _ = _chunked(tmp_path, [64, 64])

    with open_source(source) as stream:
        assert len(stream.read(10)) == 10
        source.parts[1].unlink()
        with pytest.raises(FileNotFoundError):
            stream.read()
