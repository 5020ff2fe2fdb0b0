"""Query parameters of a cursor-paginated list call."""

from __future__ import annotations


def page_params(cursor: str | None, limit: int | None) -> dict[str, str | int]:
    """`cursor` and `limit` as query parameters, leaving out those not given."""
    params: dict[str, str | int] = {}
    if cursor:
        params["cursor"] = cursor
    if limit is not None:
        params["limit"] = limit
    return params
