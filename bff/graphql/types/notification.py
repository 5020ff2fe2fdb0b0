"""An entry of the viewer's notification inbox."""

from __future__ import annotations

from datetime import datetime
from operator import itemgetter
from typing import Any

import strawberry
from strawberry.scalars import JSON

from bff.graphql.types.json_backed import JsonBacked
from bff.graphql.types.json_values import as_datetime, as_id, as_optional_datetime
from bff.graphql.types.node import Node, to_global_id


@strawberry.type(
    description="An inbox entry. `id` is its uuid (as REST routes and mutations "
    "take it); `globalId` its Relay id. The inbox is read as a list: `node(id:)` does not "
    "fetch a notification alone."
)
class Notification(Node, JsonBacked):
    id: strawberry.ID
    category: str
    title: str | None
    body: str | None
    data: JSON
    created_at: datetime
    read_at: datetime | None

    readers = {
        "id": lambda notification: as_id(notification["id"]),
        "global_id": lambda notification: to_global_id("Notification", notification["id"]),
        "category": itemgetter("category"),
        "title": lambda notification: notification.get("title"),
        "body": lambda notification: notification.get("body"),
        "data": itemgetter("data"),
        "created_at": lambda notification: as_datetime(notification["created_at"]),
        "read_at": lambda notification: as_optional_datetime(notification.get("read_at")),
    }

    @classmethod
    def from_json(cls, notification: dict[str, Any]) -> Notification:
        """From a `Notification` as the notifications service answers it (read when
        selected)."""
        return cls.backed_by(notification)
