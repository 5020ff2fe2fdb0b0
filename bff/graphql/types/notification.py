"""An entry of the viewer's notification inbox."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from proto.notifications import Notification as NotificationRecord


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
    def from_proto(cls, notification: NotificationRecord) -> Notification:
        return cls(
            id=strawberry.ID(str(notification.id)),
            category=notification.category,
            title=notification.title,
            body=notification.body,
            data=JSON(notification.data),
            created_at=notification.created_at,
            read_at=notification.read_at,
        )
