"""The `cursor` and `limit` query parameters every list route takes (an async dependency: a
plain `def` would cost a thread hop per request)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from services.kit.paging import CursorParam, LimitParam


@dataclass(frozen=True, slots=True)
class PageQuery:
    cursor: str | None
    limit: int | None


async def _page_query(cursor: CursorParam = None, limit: LimitParam = None) -> PageQuery:
    return PageQuery(cursor, limit)


PageParams = Annotated[PageQuery, Depends(_page_query)]
