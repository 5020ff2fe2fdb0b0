"""The user's notification inbox: list, mark read, unread count."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Query

from bff.compact.representation import Represented
from bff.dependencies import Clients, CurrentUser
from bff.routes.pagination import PageParams
from proto.common import Page
from proto.notifications import MarkRead, Notification, ReadResult, UnreadCount
from services.kit.routing import PrefixedRouter

router = PrefixedRouter(prefix="/notifications", tags=["notifications"])


@router.get("", response_model=Page[Notification])
async def list_notifications(
    page: PageParams,
    user: CurrentUser,
    clients: Clients,
    unread: Annotated[bool, Query(description="only notifications not read yet")] = False,
) -> Represented:
    """The user's notifications, newest first, a page at a time (`?unread=true`: unread only)."""
    listed = await clients.notifications.list_notifications(
        user.id, page.cursor, page.limit, unread=unread
    )
    return Represented(listed.as_json())


@router.get("/unread-count", response_model=UnreadCount)
async def unread_count(user: CurrentUser, clients: Clients) -> UnreadCount:
    """How many of the user's notifications are unread (for the badge)."""
    return await clients.notifications.unread_count(user.id)


@router.post("/read", response_model=ReadResult)
async def mark_many_read(body: MarkRead, user: CurrentUser, clients: Clients) -> ReadResult:
    """Mark some (`ids`) or all (`all: true`) of the user's notifications read."""
    return await clients.notifications.mark_many_read(user.id, body)


@router.post("/{notification_id}/read", response_model=Notification)
async def mark_read(notification_id: UUID, user: CurrentUser, clients: Clients) -> Notification:
    """Mark one notification read."""
    return await clients.notifications.mark_read(user.id, notification_id)
