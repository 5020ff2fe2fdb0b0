"""Conflict rules of the offline queue that need no I/O: the three-way merge of a label."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

LABEL_FIELDS = ("label", "note")


def merge_fields(
    base: Mapping[str, Any] | None,
    mine: Mapping[str, Any],
    theirs: Mapping[str, Any],
    fields: tuple[str, ...] = LABEL_FIELDS,
) -> dict[str, Any] | None:
    """The server state (`theirs`) with the phone's edits (`mine`) applied field by field,
    or None on a conflict: a field the phone edited that the server changed too (to another
    value) since `base`, the state the phone's edit started from. Without a base every field
    the phone sent must already agree, or be the only writer's (theirs equal mine)."""
    merged = {field: theirs.get(field) for field in fields}
    for field in fields:
        if field not in mine:
            continue
        if theirs.get(field) == mine[field]:
            continue
        if base is None or field not in base or theirs.get(field) != base[field]:
            return None
        merged[field] = mine[field]
    return merged
