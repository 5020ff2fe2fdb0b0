"""The sync cursor: per entity kind, the feed position the phone has applied; and which
sources it is paging through a snapshot of. Opaque to the phone (base64 JSON, as every cursor
here), kept per kind so that a sync of some kinds never moves the others on."""

from __future__ import annotations

from dataclasses import dataclass, field

from bff.sync.entities import BY_NAME, SOURCES
from proto.common import INT64_MAX
from services.kit.paging import decode_cursor, encode_cursor, invalid_cursor


@dataclass
class SyncCursor:
    positions: dict[str, int] = field(default_factory=dict)
    snapshots: set[str] = field(default_factory=set)

    def position(self, kind: str) -> int:
        return self.positions.get(kind, 0)

    def encode(self) -> str:
        return encode_cursor(
            {"k": {k: v for k, v in self.positions.items() if v}, "s": sorted(self.snapshots)}
        )

    @classmethod
    def decode(cls, raw: str | None) -> SyncCursor:
        """The cursor an answer gave (a fresh one for None); 400 INVALID_CURSOR otherwise."""
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
        return cls(dict(kinds), set(snapshots))
