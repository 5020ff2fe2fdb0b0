"""The `cursor` and `limit` query parameters every list route takes (an async dependency: a
plain `def` would cost a thread hop per request)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query

from services.kit.pagination import MAX_PAGE_SIZE

_MAX_CURSOR_LENGTH = 1024


@dataclass(frozen=True, slots=True)
class PageQuery:
    cursor: str | None
    limit: int | None


async def _page_query(
    cursor: Annotated[str | None, Query(max_length=_MAX_CURSOR_LENGTH)] = None,
    limit: Annotated[int | None, Query(ge=1, le=MAX_PAGE_SIZE)] = None,
) -> PageQuery:
    return PageQuery(cursor, limit)


PageParams = Annotated[PageQuery, Depends(_page_query)]
