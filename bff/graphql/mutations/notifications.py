"""Mutations of the viewer's inbox."""

from __future__ import annotations

import uuid

import strawberry
from strawberry.types import Info

from bff.graphql.context import Context
from bff.graphql.types.notification import Notification
from services.kit.errors import invalid_input


@strawberry.type
class NotificationMutations:
    @strawberry.mutation
    async def mark_notification_read(
        self, info: Info[Context, None], id: strawberry.ID
    ) -> Notification:
        """Mark one of the viewer's notifications read (read state never goes back)."""
        user = info.context.require_user()
        try:
            notification_id = uuid.UUID(id)
        except ValueError as exc:
            raise invalid_input("INVALID_ID", f"{id!r} is not a notification id") from exc
        inbox = info.context.clients.notifications
        read = await inbox.mark_read(str(user.user_id), notification_id)
        return Notification.from_json(read.model_dump(mode="json"))
