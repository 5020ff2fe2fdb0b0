"""Opaque cursors for every list: the client passes back what it got, never builds one."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

from services.kit.errors import Action, ApiError

MAX_PAGE_SIZE = 200
DEFAULT_PAGE_SIZE = 50


def encode_cursor(position: dict[str, Any]) -> str:
    """Turn a position (e.g. the last row's sort key and id) into an opaque string."""
    raw = orjson.dumps({"v": 1, "p": position})
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    """The position a cursor stands for; 400 INVALID_CURSOR when it was not ours."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = orjson.loads(raw)
        if not isinstance(data, dict) or data.get("v") != 1 or not isinstance(data.get("p"), dict):
            raise ValueError("unknown cursor version")
    except (ValueError, binascii.Error, orjson.JSONDecodeError) as exc:
        raise invalid_cursor() from exc
    position: dict[str, Any] = data["p"]
    return position


def invalid_cursor() -> ApiError:
    """The 400 INVALID_CURSOR answered for a cursor that was not ours."""
    return ApiError(400, "INVALID_CURSOR", "the cursor is not valid", action=Action.FIX_INPUT)


def clamp_limit(limit: int | None) -> int:
    """A page size within [1, MAX_PAGE_SIZE]."""
    if limit is None:
        return DEFAULT_PAGE_SIZE
    return max(1, min(MAX_PAGE_SIZE, limit))
