"""Mutations of the viewer's inbox: mark one, some or all notifications read."""

from __future__ import annotations

from uuid import UUID

import strawberry
from pydantic import BaseModel
from strawberry.types import Info

from bff.graphql.context import Context
from bff.graphql.mutations.user_errors import attempt, contract, input_values
from bff.graphql.types.notification import Notification
from bff.graphql.types.user_error import UserError
from proto.notifications import MarkRead, ReadResult


@strawberry.input
class MarkNotificationReadInput:
    id: strawberry.ID


@strawberry.type
class MarkNotificationReadPayload:
    notification: Notification | None
    user_errors: list[UserError]


@strawberry.input
class MarkNotificationsReadInput:
    """Some notifications (`ids`, at most 200) or all of them (`all: true`)."""

    ids: list[strawberry.ID] | None = strawberry.UNSET
    all: bool = False


@strawberry.type
class MarkNotificationsReadPayload:
    """How many notifications changed, and how many are still unread (for the badge)."""

    updated: int | None
    unread: int | None
    user_errors: list[UserError]


class _NotificationTarget(BaseModel):
    id: UUID


@strawberry.type
class NotificationMutations:
    @strawberry.mutation
    async def mark_notification_read(
        self, info: Info[Context, None], input: MarkNotificationReadInput
    ) -> MarkNotificationReadPayload:
        """Mark one of the viewer's notifications read (read state never goes back)."""
        user = info.context.require_user()
        inbox = info.context.clients.notifications

        async def mark() -> Notification:
            target = contract(_NotificationTarget, input_values(input))
            read = await inbox.mark_read(str(user.id), target.id)
            return Notification.from_json(read.model_dump(mode="json"))

        result = await attempt(mark, {"NOTIFICATION_NOT_FOUND": ["id"]})
        if isinstance(result, list):
            return MarkNotificationReadPayload(notification=None, user_errors=result)
        return MarkNotificationReadPayload(notification=result, user_errors=[])

    @strawberry.mutation
    async def mark_notifications_read(
        self, info: Info[Context, None], input: MarkNotificationsReadInput
    ) -> MarkNotificationsReadPayload:
        """Mark some or all of the viewer's notifications read."""
        user = info.context.require_user()
        inbox = info.context.clients.notifications

        async def mark() -> ReadResult:
            request = contract(MarkRead, input_values(input))
            return await inbox.mark_many_read(str(user.id), request)

        result = await attempt(mark)
        if isinstance(result, list):
            return MarkNotificationsReadPayload(updated=None, unread=None, user_errors=result)
        return MarkNotificationsReadPayload(
            updated=result.updated, unread=result.unread, user_errors=[]
        )
