"""Push settings of the user: topic subscriptions of their devices, and push preferences."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from bff.dependencies import Clients, CurrentUser, Mobile
from bff.mobile_headers import valid_device_id
from bff.push_settings import TOPIC_PATTERN, with_phone_timezone
from bff.routes.pagination import PageParams
from proto.common import Page
from proto.notifications import Preferences, TopicSubscription

router = APIRouter(tags=["notifications"])

TopicName = Annotated[str, Path(pattern=TOPIC_PATTERN)]


@router.put("/devices/{device_id}/topics/{topic}", response_model=TopicSubscription)
async def subscribe(
    device_id: str, topic: TopicName, user: CurrentUser, clients: Clients
) -> TopicSubscription:
    """Subscribe one of the user's devices to a topic (idempotent)."""
    return await clients.notifications.subscribe(user.id, valid_device_id(device_id), topic)


@router.delete("/devices/{device_id}/topics/{topic}", status_code=204, response_class=Response)
async def unsubscribe(
    device_id: str, topic: TopicName, user: CurrentUser, clients: Clients
) -> Response:
    """Unsubscribe one of the user's devices from a topic."""
    await clients.notifications.unsubscribe(user.id, valid_device_id(device_id), topic)
    return Response(status_code=204)


@router.get("/subscriptions", response_model=Page[TopicSubscription])
async def list_subscriptions(
    page: PageParams, user: CurrentUser, clients: Clients
) -> Page[TopicSubscription]:
    """The topics the user's devices follow, newest first."""
    return await clients.notifications.list_subscriptions(user.id, page.cursor, page.limit)


@router.get("/notification-preferences", response_model=Preferences)
async def get_preferences(user: CurrentUser, clients: Clients) -> Preferences:
    """The user's push preferences."""
    return await clients.notifications.get_preferences(user.id)


@router.put("/notification-preferences", response_model=Preferences)
async def put_preferences(
    body: Preferences, user: CurrentUser, clients: Clients, mobile: Mobile
) -> Preferences:
    """Replace the user's push preferences; the timezone defaults to the phone's X-Timezone."""
    preferences = with_phone_timezone(body, mobile.timezone)
    return await clients.notifications.put_preferences(user.id, preferences)
