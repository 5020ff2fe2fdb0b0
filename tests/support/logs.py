"""Read the JSON log lines a process (or an app under test) wrote."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def json_lines(text: str, **match: Any) -> list[dict[str, Any]]:
    """The JSON objects among `text`'s lines whose fields equal `match` (other lines skipped)."""
    found: list[dict[str, Any]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and all(record.get(k) == v for k, v in match.items()):
            found.append(record)
    return found


def access_lines(text: str, **match: Any) -> list[dict[str, Any]]:
    """The kit's access log lines (one per request) among `text`'s lines."""
    return json_lines(text, logger="tern.access", event="request", **match)


def log_file_lines(path: Path, **match: Any) -> list[dict[str, Any]]:
    """The JSON lines of a process's log file that match."""
    return json_lines(path.read_text(errors="replace"), **match)
