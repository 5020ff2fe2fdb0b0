"""Paging for every list: opaque cursors, keyset pages newest first by (timestamp, id), page
sizes, and the `cursor` and `limit` query parameters every list route takes."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, TypeVar, TypeVarTuple

import orjson
import sqlalchemy as sa
from fastapi import Query

from proto.common import INT64_MAX
from services.kit.errors import Action, ApiError

MAX_PAGE_SIZE = 200
DEFAULT_PAGE_SIZE = 50
# The longest cursor any list emits is a keyset one (ISO timestamp + uuid, ~110 characters,
# 142 with an absurd UTC offset); the BFF passes cursors through unwrapped. Longer is not
# ours: 422 before anything decodes it.
MAX_CURSOR_LENGTH = 1024

CursorParam = Annotated[str | None, Query(max_length=MAX_CURSOR_LENGTH)]
"""The `cursor` query parameter: what the previous page's `next_cursor` said."""
LimitParam = Annotated[int | None, Query(ge=1, le=MAX_PAGE_SIZE)]
"""The `limit` query parameter: None leaves the page size to the list (`clamp_limit`)."""

T = TypeVar("T")
Ts = TypeVarTuple("Ts")
AnySelect = sa.Select[*tuple[Any, ...]]


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


def cursor_number(cursor: str | None, key: str, minimum: int = 0) -> int | None:
    """The whole number a cursor holds under `key` (None for no cursor); 400 INVALID_CURSOR
    unless it lies in [minimum, 2^63 - 1], the range of the columns it is compared with."""
    position = decode_cursor(cursor)
    if position is None:
        return None
    number = position.get(key)
    if not isinstance(number, int) or isinstance(number, bool):
        raise invalid_cursor()
    if not minimum <= number <= INT64_MAX:
        raise invalid_cursor()
    return number


def invalid_cursor() -> ApiError:
    """The 400 INVALID_CURSOR answered for a cursor that was not ours."""
    return ApiError(400, "INVALID_CURSOR", "the cursor is not valid", action=Action.FIX_INPUT)


def clamp_limit(limit: int | None) -> int:
    """A page size within [1, MAX_PAGE_SIZE]."""
    if limit is None:
        return DEFAULT_PAGE_SIZE
    return max(1, min(MAX_PAGE_SIZE, limit))


@dataclass(frozen=True, slots=True)
class Position:
    """The (timestamp, id) of the last row of a page; the next page starts strictly after it."""

    at: datetime
    id: uuid.UUID


def position_cursor(at: datetime, row_id: uuid.UUID) -> str:
    """The opaque cursor for the page after the row at (at, row_id); `at` must be aware."""
    if at.tzinfo is None:
        raise ValueError("naive datetime: cursors hold timezone-aware timestamps")
    return encode_cursor({"t": at.isoformat(), "id": str(row_id)})


def cursor_position(cursor: str | None) -> Position | None:
    """The position a cursor stands for (None for no cursor); 400 INVALID_CURSOR if not ours."""
    payload = decode_cursor(cursor)
    if payload is None:
        return None
    at, row_id = payload.get("t"), payload.get("id")
    if not isinstance(at, str) or not isinstance(row_id, str):
        raise invalid_cursor()
    try:
        position = Position(datetime.fromisoformat(at), uuid.UUID(row_id))
    except ValueError as exc:
        raise invalid_cursor() from exc
    if position.at.tzinfo is None:
        raise invalid_cursor()
    return position


def newest_first(
    stmt: sa.Select[*Ts],
    at_column: sa.SQLColumnExpression[datetime],
    id_column: sa.SQLColumnExpression[uuid.UUID],
    after: Position | None,
    limit: int,
) -> sa.Select[*Ts]:
    """`stmt` ordered by (at, id) descending from strictly after `after`, `limit` + 1 rows."""
    if after is not None:
        stmt = stmt.where(
            sa.or_(
                at_column < after.at,
                sa.and_(at_column == after.at, id_column < after.id),
            )
        )
    return stmt.order_by(at_column.desc(), id_column.desc()).limit(limit + 1)


@dataclass(frozen=True, slots=True)
class NewestFirst:
    """A list query built once, newest first by (at, id): the first page, and the page after
    a position; `limit` and `after_at`/`after_id` are bound per call."""

    first: AnySelect
    after: AnySelect

    @classmethod
    def of(
        cls,
        stmt: AnySelect,
        at_column: sa.SQLColumnExpression[datetime],
        id_column: sa.SQLColumnExpression[uuid.UUID],
    ) -> NewestFirst:
        ordered = stmt.order_by(at_column.desc(), id_column.desc()).limit(sa.bindparam("limit"))
        after = sa.or_(
            at_column < sa.bindparam("after_at"),
            sa.and_(at_column == sa.bindparam("after_at"), id_column < sa.bindparam("after_id")),
        )
        return cls(ordered, ordered.where(after))

    def bind(
        self, after: Position | None, limit: int, **params: Any
    ) -> tuple[AnySelect, dict[str, Any]]:
        """The statement and parameters for `limit` rows (+ 1, to know if more follow)."""
        params["limit"] = limit + 1
        if after is None:
            return self.first, params
        params["after_at"], params["after_id"] = after.at, after.id
        return self.after, params


def split_page(
    rows: Sequence[T], limit: int, key: Callable[[T], tuple[datetime, uuid.UUID]]
) -> tuple[list[T], str | None]:
    """The first `limit` rows, and the cursor after the last of them when there were more."""
    page = list(rows[:limit])
    if len(rows) <= limit or not page:
        return page, None
    return page, position_cursor(*key(page[-1]))
