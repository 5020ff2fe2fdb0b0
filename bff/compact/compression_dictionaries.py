"""Compression Dictionary Transport (RFC 9842): the `dcz` coding with a family's dictionary.

A client fetches a family's dictionary once (its URL is in the `Link` header of that family's
answers; it is cached forever), then asks with `Accept-Encoding: ..., dcz` and
`Available-Dictionary: :<base64 SHA-256 of the dictionary>:`. When the hash is the one of the
dictionary for the request's path and representation, the answer is `Content-Encoding: dcz`:
the 8-byte magic, the dictionary's SHA-256, then a zstd frame compressed with the dictionary
as raw content.

Each family has a dictionary for its JSON answers and one for its compact answers, with
different ids and URLs but the same `match`: a client offers the one of the representation it
asks for (`Accept`, `?format=`), and one that switches representation is answered without dcz,
with a `Link` to the other dictionary, until it holds that one too.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import zstandard

from bff.compact.dictionaries import DICTIONARIES_PATH, FAMILIES, REPRESENTATIONS, Family

DCZ = "dcz"
# A zstd skippable frame of 32 bytes (RFC 9842 section 5.2): old zstd decoders skip the hash.
DCZ_MAGIC = bytes([0x5E, 0x2A, 0x4D, 0x18, 0x20, 0x00, 0x00, 0x00])
DCZ_HEADER_BYTES = len(DCZ_MAGIC) + 32
# Small answers are where the dictionary matters and compressing harder costs little in
# absolute terms (~0.1 ms for a 2 KB sync delta, level 14 being as small as 19 there);
# larger ones take the usual zstd level. Both keep the window within RFC 9842's 8 MB.
SMALL_ANSWER_BYTES = 4 * 1024
SMALL_ANSWER_LEVEL = 14
IMMUTABLE = "public, max-age=31536000, immutable"


@dataclass(frozen=True, slots=True)
class CompressionDictionary:
    """One family's dictionary for its JSON (or `compact`) answers: its bytes, hash, id and
    URL, and the coding with it."""

    family: Family
    content: bytes
    compact: bool = False
    sha256: bytes = field(init=False)
    _prepared: dict[int, zstandard.ZstdCompressionDict] = field(
        init=False, default_factory=dict, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha256", hashlib.sha256(self.content).digest())

    @property
    def id(self) -> str:
        """The version of this dictionary: the start of its SHA-256, in hex."""
        return self.sha256.hex()[:16]

    @property
    def url(self) -> str:
        """Where the BFF serves it (a new dictionary gets a new URL)."""
        return f"{DICTIONARIES_PATH}/{self.family.name}/{self.id}"

    @property
    def use_as_dictionary(self) -> str:
        """The `Use-As-Dictionary` header of the dictionary's own answer (a Structured Field
        Dictionary: which requests it serves, for any destination, under which id)."""
        return f'match="{self.family.match}", match-dest=(), id="{self.id}"'

    @property
    def link(self) -> str:
        """The `Link` that tells a client of this family's answers to fetch the dictionary."""
        return f'<{self.url}>; rel="compression-dictionary"'

    def compress(self, body: bytes, level: int) -> bytes:
        """`body` in the dcz coding (large answers at `level`, small ones harder)."""
        if len(body) <= SMALL_ANSWER_BYTES:
            level = SMALL_ANSWER_LEVEL
        compressor = zstandard.ZstdCompressor(
            level=level, dict_data=self._prepared_for(level), write_dict_id=False
        )
        return DCZ_MAGIC + self.sha256 + compressor.compress(body)

    def _prepared_for(self, level: int) -> zstandard.ZstdCompressionDict:
        prepared = self._prepared.get(level)
        if prepared is None:
            prepared = zstandard.ZstdCompressionDict(
                self.content, dict_type=zstandard.DICT_TYPE_RAWCONTENT
            )
            prepared.precompute_compress(level=level)
            self._prepared[level] = prepared
        return prepared


class CompressionDictionaries:
    """The current dictionaries of each family, one per representation."""

    def __init__(self, dictionaries: Iterable[CompressionDictionary]) -> None:
        self._by_key = {(d.family.name, d.compact): d for d in dictionaries}
        # The longest match wins, as a client picks among the dictionaries it holds.
        self._by_match = sorted(
            self._by_key.values(), key=lambda d: len(d.family.match), reverse=True
        )

    @classmethod
    def from_files(cls, families: Iterable[Family] = FAMILIES) -> CompressionDictionaries:
        """The dictionaries committed in bff/compact/dictionaries/."""
        return cls(
            CompressionDictionary(f, f.file(compact).read_bytes(), compact)
            for f in families
            for compact in REPRESENTATIONS
        )

    def __iter__(self) -> Iterator[CompressionDictionary]:
        return iter(self._by_key.values())

    def for_path(self, path: str, compact: bool = False) -> CompressionDictionary | None:
        """The dictionary for answers to `path` in JSON (or `compact`), if any."""
        return next(
            (d for d in self._by_match if d.compact == compact and d.family.matches(path)), None
        )

    def get(self, family: str, dictionary_id: str) -> CompressionDictionary | None:
        """The dictionary of `family` with this id (of either representation), if it is a
        current one."""
        return next((d for d in self if d.family.name == family and d.id == dictionary_id), None)


@functools.cache
def committed_dictionaries() -> CompressionDictionaries:
    """The committed dictionaries, read once per process on first use."""
    return CompressionDictionaries.from_files()


def available_dictionary(value: str | None) -> bytes | None:
    """The hash an `Available-Dictionary` header names (a Structured Field Byte Sequence,
    `:base64:`), or None when it is absent or not one."""
    if not value:
        return None
    value = value.strip()
    if len(value) < 2 or value[0] != ":" or value[-1] != ":":
        return None
    try:
        digest = base64.b64decode(value[1:-1], validate=True)
    except (binascii.Error, ValueError):
        return None
    return digest if len(digest) == 32 else None
