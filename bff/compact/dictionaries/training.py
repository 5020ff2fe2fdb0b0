"""Train each family's raw dictionary from its synthetic answers and write it beside this file.

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

from bff.compact.dictionaries import FAMILIES, Family
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

SAMPLERS: dict[str, Callable[[random.Random], dict[str, Any]]] = {
    "sync": answers.sync_answer,
    "dataset-changes": answers.dataset_changes,
    "notifications": answers.notifications_page,
    "dashboard": answers.dashboard,
}


def training_samples(family: Family, seed: int = SEED, count: int = SAMPLE_COUNT) -> list[bytes]:
    """Answers of `family` as the BFF encodes them."""
    return list(answers.answers(SAMPLERS[family.name], seed, count))


def train(family: Family) -> bytes:
    """The raw dictionary of `family`, trained on its samples."""
    samples: list[bytes | bytearray | memoryview] = list(training_samples(family))
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
    # The samples are ASCII JSON, so their content is printable: anything else is the header.
    if not content or not content.isascii() or not content.decode().isprintable():
        raise ValueError("could not find the content of the trained dictionary")
    return content


def write_all() -> list[Path]:
    """Train and write every family's dictionary; the files written."""
    written = []
    for family in FAMILIES:
        family.file.write_bytes(train(family))
        written.append(family.file)
    return written
