"""A page of a cursor-paginated list (a connection): `items`, and `nextCursor` to pass back as
`after` for the next one (also as `pageInfo.endCursor`). `stale` marks a copy kept from an
earlier read, answered while its service cannot answer (an error on the field says why)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

import strawberry

from bff.clients.reads import DownstreamPage
from services.kit.errors import Action, ApiError, validation_failed
from services.kit.paging import DEFAULT_PAGE_SIZE, MAX_CURSOR_LENGTH, MAX_PAGE_SIZE

T = TypeVar("T")
S = TypeVar("S")


@strawberry.type
class PageInfo:
    """Relay's page info: is there a next page, and the cursor to ask for it (`after`)."""

    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None
    page_info: PageInfo
    stale: bool = strawberry.field(
        default=False,
        description="True: a copy from an earlier read, shown while its service is down.",
    )
    age_s: int | None = strawberry.field(
        default=None, description="How old a stale copy is, in seconds."
    )


def page_of(
    page: DownstreamPage,
    convert: Callable[[dict[str, Any]], T],
    *,
    stale: bool = False,
    age_s: int | None = None,
) -> Page[T]:
    """A GraphQL page from a service's page."""
    return page_from(page.items, page.next_cursor, convert, stale=stale, age_s=age_s)


def page_from(
    items: Sequence[S],
    next_cursor: str | None,
    convert: Callable[[S], T],
    *,
    stale: bool = False,
    age_s: int | None = None,
) -> Page[T]:
    """A GraphQL page of `items` (any shape `convert` reads)."""
    return Page(
        items=[convert(item) for item in items],
        next_cursor=next_cursor,
        page_info=PageInfo(has_next_page=next_cursor is not None, end_cursor=next_cursor),
        stale=stale,
        age_s=age_s,
    )


def page_size(first: int | None, after: str | None) -> int:
    """`first` and `after` checked as REST checks `limit` and `cursor`: 422 VALIDATION_FAILED
    outside 1-200, 400 INVALID_CURSOR for a cursor longer than any we emit."""
    if after is not None and (not after or len(after) > MAX_CURSOR_LENGTH):
        raise ApiError(400, "INVALID_CURSOR", "the cursor is not valid", action=Action.FIX_INPUT)
    if first is None:
        return DEFAULT_PAGE_SIZE
    if not 1 <= first <= MAX_PAGE_SIZE:
        problem = f"must be between 1 and {MAX_PAGE_SIZE}"
        raise validation_failed([{"loc": ("first",), "msg": problem}], "arguments")
    return first
