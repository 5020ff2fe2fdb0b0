"""An entry of the viewer's notification inbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON

from bff.graphql.types.json_values import as_datetime, as_id, as_optional_datetime


@strawberry.type
class Notification:
    id: strawberry.ID
    category: str
    title: str | None
    body: str | None
    data: JSON
    created_at: datetime
    read_at: datetime | None

    @classmethod
    def from_json(cls, notification: dict[str, Any]) -> Notification:
        """From a `Notification` as the notifications service answers it."""
        return cls(
            id=as_id(notification["id"]),
            category=notification["category"],
            title=notification.get("title"),
            body=notification.get("body"),
            data=JSON(notification["data"]),
            created_at=as_datetime(notification["created_at"]),
            read_at=as_optional_datetime(notification.get("read_at")),
        )
