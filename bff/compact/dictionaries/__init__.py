"""Compression dictionaries (RFC 9842), two per family of small answers, committed here.

Each family has a raw dictionary (RFC 9842's only type: bytes a compressor may copy from) per
representation the BFF answers in: `<family>.dict` for plain JSON and `<family>.compact.dict`
for the compact form (`Accept: application/vnd.tern.compact+json`: short keys, base64url ids,
epoch timestamps), each trained on synthetic answers of that family (`samples.py`) as the BFF
encodes them in that representation; `python -m bff.compact.dictionaries` trains them again
(`training.py`). A dictionary's id is derived from its SHA-256, so a new one has a new URL and
clients that cache the old one forever are right to.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DICTIONARY_DIR = Path(__file__).parent
# Where the BFF serves them: GET {DICTIONARIES_PATH}/{family}/{id}.
DICTIONARIES_PATH = "/api/v1/dictionaries"
# The representations a family has a dictionary for: plain JSON, and compact (True).
REPRESENTATIONS = (False, True)


@dataclass(frozen=True, slots=True)
class Family:
    """Answers that look alike, and the paths (a URL pattern, RFC 9842 `match`) that give them."""

    name: str
    match: str

    def file(self, compact: bool = False) -> Path:
        """The committed dictionary of this family's JSON (or compact) answers."""
        return DICTIONARY_DIR / f"{self.name}{'.compact' if compact else ''}.dict"

    def matches(self, path: str) -> bool:
        """Whether a request path is one the client would use this dictionary for."""
        if self.match.endswith("*"):
            return path.startswith(self.match[:-1])
        return path == self.match


FAMILIES = (
    Family("sync", "/api/v1/sync*"),
    Family("dataset-changes", "/api/v1/datasets/changes*"),
    Family("notifications", "/api/v1/notifications*"),
    Family("dashboard", "/api/v1/dashboard*"),
)
