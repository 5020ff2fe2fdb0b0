"""The sync cursor: per entity kind, the feed position the phone has applied; and which
sources it is paging through a snapshot of. Opaque to the phone, kept per kind so that a sync
of some kinds never moves the others on.

It travels in every sync request and answer, and no compression shrinks it (it is random to
gzip and to a dictionary alike), so it is packed: base64url of a version byte, a bit mask of
the sources in a snapshot, then one unsigned LEB128 varint per kind in `CURSOR_KINDS` order,
each the zigzag difference from the kind before it of the same source (kinds of one source
are usually at one position, so all but the first cost a byte), trailing zero differences
dropped (a missing difference is zero).
Twelve kinds at six-digit positions take ~30 characters where the JSON form took ~400.
Cursors in the first form (base64 JSON, as every other cursor here) are still read, so a phone
that synced before an upgrade goes on from where it was.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field

from bff.sync.entities import BY_NAME, SOURCES
from proto.common import INT64_MAX
from services.kit.paging import decode_cursor, invalid_cursor

# The order of the packed positions and snapshot bits: a cursor a phone holds must decode the
# same after an upgrade, so new kinds and sources are appended, never inserted or removed.
CURSOR_KINDS = (
    "datasets",
    "dataset_versions",
    "labels",
    "training_jobs",
    "models",
    "model_versions",
    "model_aliases",
    "notifications",
    "devices",
    "topic_subscriptions",
    "push_preferences",
    "sessions",
)
CURSOR_SOURCES = ("datasets", "training", "inference", "notifications", "bff")
_PACKED = 2  # the version byte of the packed form (the JSON form starts with "{")
_MAX_VARINT_BYTES = 10  # 64 bits


@dataclass
class SyncCursor:
    positions: dict[str, int] = field(default_factory=dict)
    snapshots: set[str] = field(default_factory=set)

    def position(self, kind: str) -> int:
        return self.positions.get(kind, 0)

    def encode(self) -> str:
        packed = bytearray((_PACKED,))
        _put_varint(
            packed,
            sum(1 << bit for bit, s in enumerate(CURSOR_SOURCES) if s in self.snapshots),
        )
        values, previous = [], dict.fromkeys(CURSOR_SOURCES, 0)
        for kind in CURSOR_KINDS:
            seq, source = self.positions.get(kind, 0), BY_NAME[kind].source
            values.append(_zigzag(seq - previous[source]))
            previous[source] = seq
        while values and not values[-1]:
            values.pop()
        for value in values:
            _put_varint(packed, value)
        return base64.urlsafe_b64encode(packed).rstrip(b"=").decode()

    @classmethod
    def decode(cls, raw: str | None) -> SyncCursor:
        """The cursor an answer gave (a fresh one for None); 400 INVALID_CURSOR otherwise."""
        if not raw:
            return cls()
        try:
            packed = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
        except (binascii.Error, ValueError):
            raise invalid_cursor() from None
        if packed[:1] == bytes((_PACKED,)):
            return cls._unpack(packed)
        return cls._from_json(raw)

    @classmethod
    def _unpack(cls, packed: bytes) -> SyncCursor:
        values, at = [], 1
        while at < len(packed):
            value, at = _read_varint(packed, at)
            values.append(value)
        if not values or len(values) > len(CURSOR_KINDS) + 1 or values[0] >> len(CURSOR_SOURCES):
            raise invalid_cursor()
        snapshots = {s for bit, s in enumerate(CURSOR_SOURCES) if values[0] >> bit & 1}
        positions, previous = {}, dict.fromkeys(CURSOR_SOURCES, 0)
        differences = values[1:] + [0] * (len(CURSOR_KINDS) + 1 - len(values))
        for kind, difference in zip(CURSOR_KINDS, differences, strict=True):
            source = BY_NAME[kind].source
            seq = previous[source] + _unzigzag(difference)
            if not 0 <= seq <= INT64_MAX:
                raise invalid_cursor()
            previous[source] = seq
            if seq:
                positions[kind] = seq
        return cls(positions, snapshots)

    @classmethod
    def _from_json(cls, raw: str) -> SyncCursor:
        """A cursor of the first form: `{"k": {kind: seq}, "s": [source]}` as base64 JSON."""
        position = decode_cursor(raw)
        if position is None:
            return cls()
        kinds, snapshots = position.get("k"), position.get("s")
        if not isinstance(kinds, dict) or not isinstance(snapshots, list):
            raise invalid_cursor()
        for name, seq in kinds.items():
            if name not in BY_NAME or type(seq) is not int or not 0 <= seq <= INT64_MAX:
                raise invalid_cursor()
        if not all(source in SOURCES for source in snapshots):
            raise invalid_cursor()
        return cls({k: v for k, v in kinds.items() if v}, set(snapshots))


def _zigzag(value: int) -> int:
    return value << 1 if value >= 0 else (-value << 1) - 1


def _unzigzag(value: int) -> int:
    return value >> 1 if not value & 1 else -((value + 1) >> 1)


def _put_varint(out: bytearray, value: int) -> None:
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)


def _read_varint(packed: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    for index in range(at, min(at + _MAX_VARINT_BYTES, len(packed))):
        byte = packed[index]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, index + 1
        shift += 7
    raise invalid_cursor()
