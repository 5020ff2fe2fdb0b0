"""JSON answers encoded once, straight from plain data (rows turned into dicts), by orjson.

A route that builds its answer this way keeps its `response_model` for the OpenAPI document;
FastAPI passes a returned Response through without validating or re-encoding it.
"""

from __future__ import annotations

import uuid
from typing import Any, TypedDict

import orjson
from starlette.responses import Response

# Datetimes as pydantic writes them (UTC as "Z"); UUIDs and datetimes need no conversion.
_OPTIONS = orjson.OPT_UTC_Z


class JsonPage(TypedDict):
    """One page of a list, as plain data (the `Page` contract's shape)."""

    items: list[dict[str, Any]]
    next_cursor: str | None


def dump_json(content: Any) -> bytes:
    """`content` as JSON bytes, the way every service answer is written."""
    return orjson.dumps(content, default=_other, option=_OPTIONS)


def _other(value: Any) -> Any:
    # asyncpg answers UUIDs as its own subclass, which orjson does not take for a UUID.
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def json_response(
    content: Any, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """An application/json answer of `content`, encoded once."""
    return Response(
        dump_json(content), status_code=status_code, headers=headers, media_type="application/json"
    )
