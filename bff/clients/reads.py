"""The reads every client makes: one object of a contract type, or one page of a list
(its query parameters, and its answer decoded once)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel

from proto.common import Page
from services.kit.http_client import ServiceClient, ServiceResponse

P = TypeVar("P", bound=Page[Any])
M = TypeVar("M", bound=BaseModel)


async def get_one(http: ServiceClient, model_type: type[M], path: str, user_id: str) -> M:
    """GET one object, decoded straight into its contract type."""
    response = await http.request("GET", path, user_id=user_id)
    return model_type.model_validate_json(response.content)


def page_params(cursor: str | None, limit: int | None) -> dict[str, str | int]:
    """`cursor` and `limit` as query parameters, leaving out those not given."""
    params: dict[str, str | int] = {}
    if cursor:
        params["cursor"] = cursor
    if limit is not None:
        params["limit"] = limit
    return params


@dataclass(frozen=True, slots=True)
class DownstreamPage:
    """One page a service answered, as plain JSON values (the `Page` contract's shape): the
    BFF passes items on as they are, to REST answers and GraphQL types alike."""

    items: list[dict[str, Any]]
    next_cursor: str | None
    response: ServiceResponse

    @classmethod
    def of(cls, response: ServiceResponse) -> DownstreamPage:
        data = orjson.loads(response.content)
        return cls(data["items"], data.get("next_cursor"), response)

    def as_json(self) -> dict[str, Any]:
        """The page as the `Page` contract writes it."""
        return {"items": self.items, "next_cursor": self.next_cursor}


async def read_batch(
    http: ServiceClient, path: str, user_id: str, body: dict[str, Any]
) -> list[dict[str, Any]]:
    """POST a batch read (`BatchRead` and kin): the items found, as the service wrote them.
    A batch read changes nothing, so it is retried like a GET."""
    response = await http.request("POST", path, user_id=user_id, json=body, idempotent=True)
    items: list[dict[str, Any]] = orjson.loads(response.content)["items"]
    return items


async def get_page(
    http: ServiceClient, path: str, user_id: str, cursor: str | None, limit: int | None
) -> DownstreamPage:
    """GET one page of a list, its items kept as the service wrote them."""
    response = await http.request("GET", path, user_id=user_id, params=page_params(cursor, limit))
    return DownstreamPage.of(response)


async def get_typed_page(
    http: ServiceClient,
    page_type: type[P],
    path: str,
    user_id: str,
    cursor: str | None,
    limit: int | None,
) -> P:
    """GET one page of a list, validated as `page_type` (a `Page[...]` of the contract)."""
    data = await http.get_json(path, user_id=user_id, params=page_params(cursor, limit))
    return page_type.model_validate(data)
