"""The bytes of an uploaded file: a path, or an upload's chunk files read in order as one stream.

Completing an upload reads its chunks where they lie instead of first copying them into one
file: the copy wrote the whole file again and read it twice more (checksum, then parsing).
Both kinds open to a seekable binary stream, which is all the parsers and checks need.
"""

from __future__ import annotations

import bisect
import hashlib
import io
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

READ_BLOCK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ChunkedFile:
    """A file stored as chunk files; `parts` in file order."""

    parts: tuple[Path, ...]

    def open(self) -> BinaryIO:
        """A buffered, seekable reader over the parts (opened one at a time, as reached)."""
        return io.BufferedReader(_ConcatenatedReader(self.parts), buffer_size=READ_BLOCK)


ByteSource = Path | ChunkedFile


def open_source(source: ByteSource) -> BinaryIO:
    """Open a source for binary reading; the caller closes it."""
    if isinstance(source, ChunkedFile):
        return source.open()
    return source.open("rb")


@dataclass(frozen=True, slots=True)
class SourceDigest:
    sha256: str
    size: int


def source_digest(source: ByteSource) -> SourceDigest:
    """The hex sha256 and byte count of a source, read in blocks."""
    digest = hashlib.sha256()
    size = 0
    with open_source(source) as handle:
        while block := handle.read(READ_BLOCK):
            digest.update(block)
            size += len(block)
    return SourceDigest(digest.hexdigest(), size)


class _ConcatenatedReader(io.RawIOBase):
    """Raw reads across several files as if they were one; at most one file open at a time.

    Part sizes are taken when opened: chunk files are written once and renamed into place,
    never changed. A part deleted meanwhile surfaces as FileNotFoundError when reached.
    """

    def __init__(self, parts: tuple[Path, ...]) -> None:
        super().__init__()
        self._parts = parts
        self._starts = [0, *accumulate(part.stat().st_size for part in parts)]
        self._position = 0
        self._index = -1  # the part `_handle` has open
        self._handle: io.FileIO | None = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._starts[-1]}
        position = base[whence] + offset
        if position < 0:
            raise OSError(f"negative seek position {position}")
        self._position = position
        return position

    def readinto(self, buffer: WriteableBuffer) -> int:
        """Fill `buffer` from the part the position falls in (a short read at a part's end)."""
        index = bisect.bisect_right(self._starts, self._position) - 1
        if index >= len(self._parts):
            return 0
        handle = self._part(index)
        handle.seek(self._position - self._starts[index])
        count = handle.readinto(buffer) or 0
        self._position += count
        return count

    def _part(self, index: int) -> io.FileIO:
        if index != self._index or self._handle is None:
            self._close_part()
            self._handle = io.FileIO(self._parts[index], "rb")
            self._index = index
        return self._handle

    def _close_part(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def close(self) -> None:
        self._close_part()
        super().close()
