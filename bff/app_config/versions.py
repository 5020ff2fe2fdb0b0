"""App versions as comparable tuples: "2.10.1" > "2.9" (missing parts count as 0)."""

from __future__ import annotations

import re

_VERSION_RE = re.compile(r"^v?(\d{1,6}(?:\.\d{1,6}){0,3})(?:[-+ ].*)?$")
_PARTS = 4

Version = tuple[int, ...]


def parse_version(value: str | None) -> Version | None:
    """(major, minor, patch, build) of "1.2.3", "v1.2", "1.2.3-beta+45"; None if not one."""
    if not value:
        return None
    match = _VERSION_RE.match(value.strip())
    if match is None:
        return None
    parts = [int(part) for part in match.group(1).split(".")]
    return tuple(parts + [0] * (_PARTS - len(parts)))


def is_below(version: str | None, minimum: str | None) -> bool:
    """Whether `version` is known and lower than a known `minimum`."""
    mine, floor = parse_version(version), parse_version(minimum)
    return mine is not None and floor is not None and mine < floor
