"""A page of a cursor-paginated list: pass `nextCursor` back as `after` for the next one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

import strawberry

from bff.clients.reads import DownstreamPage

T = TypeVar("T")


@strawberry.type
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def page_of(page: DownstreamPage, convert: Callable[[dict[str, Any]], T]) -> Page[T]:
    """A GraphQL page from a service's page."""
    return Page(items=[convert(item) for item in page.items], next_cursor=page.next_cursor)
