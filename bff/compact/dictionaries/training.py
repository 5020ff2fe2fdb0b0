"""Train each family's raw dictionaries (JSON, compact) from its synthetic answers and write
them beside this file.

zstd's trainer (COVER) picks the byte runs that recur most across the samples and writes them
after a header of entropy tables. RFC 9842 dictionaries are raw (a client loads the bytes as
plain content), so only the content is kept: the tables would be dead bytes to such a client.
Same samples, same zstd, same dictionary: the samples come from fixed seeds, and the trainer's
parameters are fixed (its own search for them takes a minute).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import zstandard

from bff.compact.dictionaries import FAMILIES, REPRESENTATIONS, Family
from bff.compact.dictionaries import samples as answers

DICTIONARY_BYTES = 16 * 1024
SAMPLE_COUNT = 3000
SEED = 1
# COVER's segment and d-mer sizes: what its own search (k=0, d=0, ~1 min) settles on for the
# sync answers; fixed, so that training takes a second and gives the same bytes every time.
_COVER_K, _COVER_D = 290, 8
# The end of a trained dictionary's header: its three starting repeat offsets (1, 4, 8),
# little-endian 32-bit (RFC 8878, Dictionary Format); the content follows.
_REPEAT_OFFSETS = b"\x01\x00\x00\x00\x04\x00\x00\x00\x08\x00\x00\x00"

# Each family's sampler, and the route whose answers it makes (whose key map the compact
# samples are encoded with).
SAMPLERS: dict[str, tuple[str, Callable[[random.Random], dict[str, Any]]]] = {
    "sync": ("/api/v1/sync", answers.sync_answer),
    "dataset-changes": ("/api/v1/datasets/changes", answers.dataset_changes),
    "notifications": ("/api/v1/notifications", answers.notifications_page),
    "dashboard": ("/api/v1/dashboard", answers.dashboard),
}


def training_samples(
    family: Family, seed: int = SEED, count: int = SAMPLE_COUNT, *, compact: bool = False
) -> list[bytes]:
    """Answers of `family` as the BFF encodes them, in JSON or `compact`."""
    path, sampler = SAMPLERS[family.name]
    shape = answers.compact_encoder(path) if compact else None
    return list(answers.answers(sampler, seed, count, shape))


def train(family: Family, compact: bool = False) -> bytes:
    """The raw dictionary of `family`'s JSON (or `compact`) answers, trained on its samples."""
    samples: list[bytes | bytearray | memoryview] = list(training_samples(family, compact=compact))
    trained = zstandard.train_dictionary(
        DICTIONARY_BYTES,
        samples,
        k=_COVER_K,
        d=_COVER_D,
        threads=0,
    )
    return raw_content(trained.as_bytes())


def raw_content(dictionary: bytes) -> bytes:
    """The content of a zstd-format dictionary, without its magic, id and entropy tables."""
    end = dictionary.rfind(_REPEAT_OFFSETS)
    content = dictionary[end + len(_REPEAT_OFFSETS) :] if end >= 0 else b""
    # The samples are ASCII JSON (compact or not), so their content is printable: anything
    # else is the header.
    if not content or not content.isascii() or not content.decode().isprintable():
        raise ValueError("could not find the content of the trained dictionary")
    return content


def write_all() -> list[Path]:
    """Train and write every family's dictionaries; the files written."""
    written = []
    for family in FAMILIES:
        for compact in REPRESENTATIONS:
            family.file(compact).write_bytes(train(family, compact))
            written.append(family.file(compact))
    return written
