"""Keyset pagination, newest first by (timestamp, id), with one opaque cursor shape for all."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, TypeVarTuple

import sqlalchemy as sa

from services.kit.pagination import decode_cursor, encode_cursor, invalid_cursor

T = TypeVar("T")
Ts = TypeVarTuple("Ts")
AnySelect = sa.Select[*tuple[Any, ...]]


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
