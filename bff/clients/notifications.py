"""Client of the notifications service: devices, topics, preferences and the inbox."""

from __future__ import annotations

from uuid import UUID

from bff.clients.reads import DownstreamPage, get_one, get_typed_page, page_params
from proto.common import INTERNAL_PREFIX, Page
from proto.notifications import (
    UNREAD_COUNT_HEADER,
    Broadcast,
    BroadcastResult,
    DeadDelivery,
    DeadStatus,
    Device,
    DeviceRegister,
    MarkRead,
    Notification,
    Poke,
    PokeResult,
    Preferences,
    ReadResult,
    TopicAudience,
    TopicSubscription,
    UnreadCount,
)
from services.kit.http_client import ServiceClient

_PREFIX = INTERNAL_PREFIX


def unread_count_of(page: DownstreamPage) -> int | None:
    """The unread count a `count_unread` inbox page came with."""
    count = page.response.headers.get(UNREAD_COUNT_HEADER)
    return int(count) if count is not None and count.isdigit() else None


class NotificationsClient:
    """Typed calls to the notifications service."""

    def __init__(self, http: ServiceClient) -> None:
        self._http = http

    async def register_device(self, user_id: str, device_id: str, device: DeviceRegister) -> Device:
        """Register or update the push token of one of the user's devices."""
        response = await self._http.request(
            "PUT", f"{_PREFIX}/devices/{device_id}", user_id=user_id, json=device
        )
        return Device.model_validate_json(response.content)

    async def unregister_device(self, user_id: str, device_id: str) -> None:
        """Stop pushing to a device."""
        await self._http.request("DELETE", f"{_PREFIX}/devices/{device_id}", user_id=user_id)

    async def list_devices(
        self, user_id: str, cursor: str | None = None, limit: int | None = None
    ) -> Page[Device]:
        """One page of the user's devices."""
        path = f"{_PREFIX}/devices"
        return await get_typed_page(self._http, Page[Device], path, user_id, cursor, limit)

    async def list_notifications(
        self,
        user_id: str,
        cursor: str | None = None,
        limit: int | None = None,
        unread: bool = False,
        count_unread: bool = False,
    ) -> DownstreamPage:
        """One page of the user's inbox, newest first (only unread ones with `unread`), as
        `Page[Notification]`; with `count_unread`, `unread_count_of(page)` tells the count."""
        params = page_params(cursor, limit)
        if unread:
            params["unread"] = "true"
        if count_unread:
            params["count_unread"] = "true"
        response = await self._http.request(
            "GET", f"{_PREFIX}/notifications", user_id=user_id, params=params
        )
        return DownstreamPage.of(response)

    async def mark_read(self, user_id: str, notification_id: UUID) -> Notification:
        """Mark one notification read."""
        response = await self._http.request(
            "POST", f"{_PREFIX}/notifications/{notification_id}/read", user_id=user_id
        )
        return Notification.model_validate_json(response.content)

    async def mark_many_read(self, user_id: str, request: MarkRead) -> ReadResult:
        """Mark some (ids) or all notifications read."""
        response = await self._http.request(
            "POST", f"{_PREFIX}/notifications/read", user_id=user_id, json=request
        )
        return ReadResult.model_validate_json(response.content)

    async def unread_count(self, user_id: str) -> UnreadCount:
        """How many notifications are unread."""
        return await get_one(
            self._http, UnreadCount, f"{_PREFIX}/notifications/unread-count", user_id
        )

    async def subscribe(self, user_id: str, device_id: str, topic: str) -> TopicSubscription:
        """Subscribe one of the user's devices to a topic."""
        response = await self._http.request(
            "PUT", f"{_PREFIX}/devices/{device_id}/topics/{topic}", user_id=user_id
        )
        return TopicSubscription.model_validate_json(response.content)

    async def unsubscribe(self, user_id: str, device_id: str, topic: str) -> None:
        """Unsubscribe one of the user's devices from a topic."""
        await self._http.request(
            "DELETE", f"{_PREFIX}/devices/{device_id}/topics/{topic}", user_id=user_id
        )

    async def list_subscriptions(
        self, user_id: str, cursor: str | None = None, limit: int | None = None
    ) -> Page[TopicSubscription]:
        """One page of the user's topic subscriptions."""
        path = f"{_PREFIX}/subscriptions"
        return await get_typed_page(
            self._http, Page[TopicSubscription], path, user_id, cursor, limit
        )

    async def get_preferences(self, user_id: str) -> Preferences:
        """The user's push preferences."""
        return Preferences.model_validate(
            await self._http.get_json(f"{_PREFIX}/preferences", user_id=user_id)
        )

    async def put_preferences(self, user_id: str, preferences: Preferences) -> Preferences:
        """Replace the user's push preferences."""
        response = await self._http.request(
            "PUT", f"{_PREFIX}/preferences", user_id=user_id, json=preferences
        )
        return Preferences.model_validate_json(response.content)

    async def poke(self, user_id: str, poke: Poke) -> PokeResult:
        """One silent push to the user's devices but `poke.except_device`, so they sync."""
        response = await self._http.request("POST", f"{_PREFIX}/pokes", user_id=user_id, json=poke)
        return PokeResult.model_validate_json(response.content)

    # The operator's calls (the admin API): for no user, across every user.

    async def broadcast(self, topic: str, broadcast: Broadcast) -> BroadcastResult:
        """Push to every device following `topic` (idempotent per topic and key)."""
        response = await self._http.request(
            "POST", f"{_PREFIX}/topics/{topic}/broadcasts", json=broadcast, idempotent=True
        )
        return BroadcastResult.model_validate_json(response.content)

    async def topic_audience(self, topic: str) -> TopicAudience:
        """How many devices a broadcast to `topic` would reach now."""
        response = await self._http.request("GET", f"{_PREFIX}/topics/{topic}/audience")
        return TopicAudience.model_validate_json(response.content)

    async def dead_deliveries(
        self, status: DeadStatus, cursor: str | None = None, limit: int | None = None
    ) -> Page[DeadDelivery]:
        """Pushes given up on, or refused for a dead token, newest first."""
        params = {**page_params(cursor, limit), "status": status}
        response = await self._http.request("GET", f"{_PREFIX}/deliveries/dead", params=params)
        return Page[DeadDelivery].model_validate_json(response.content)
