"""The user's notification inbox."""

from __future__ import annotations

from fastapi import APIRouter

from bff.dependencies import Clients, CurrentUser
from bff.routes.pagination import PageParams
from proto.common import Page
from proto.notifications import Notification

router = APIRouter(prefix="/notifications", tags=["notifications"])


@router.get("", response_model=Page[Notification])
async def list_notifications(
    page: PageParams, user: CurrentUser, clients: Clients
) -> Page[Notification]:
    """The user's notifications, newest first, a page at a time."""
    return await clients.notifications.list_notifications(user.id, page.cursor, page.limit)
