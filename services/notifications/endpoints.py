"""Internal REST routes of the notifications service (/internal/v1); thin over service.py."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Path, Query
from starlette.responses import Response

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
    SendResult,
    SendToDevices,
    SendToUser,
    TopicAudience,
    TopicSubscription,
    UnreadCount,
)
from services.kit.dependencies import (
    INTERNAL_DEPENDENCIES,
    ActingUser,
    Caller,
    DbSession,
    only_from,
)
from services.kit.paging import CursorParam, LimitParam
from services.kit.responses import json_response
from services.kit.routing import PrefixedRouter
from services.notifications import operator_reads, service, topics
from services.notifications.context import NotificationsDep

router = PrefixedRouter(prefix=INTERNAL_PREFIX, dependencies=INTERNAL_DEPENDENCIES)

DeviceId = Annotated[str, Path(min_length=1, max_length=200)]
UnreadOnly = Annotated[bool, Query(description="only notifications not read yet")]
CountUnread = Annotated[bool, Query(description="the unread count in X-Unread-Count")]


Topic = Annotated[str, Path(min_length=1, max_length=100)]


@router.put("/devices/{device_id}", response_model=Device)
async def register_device(
    device_id: DeviceId,
    register: DeviceRegister,
    user: ActingUser,
    ctx: NotificationsDep,
) -> Device:
    """Register or update the push token of one of the acting user's devices."""
    return await service.register_device(
        ctx.db, user, device_id, register, ctx.settings.max_devices_per_user
    )


@router.delete("/devices/{device_id}", status_code=204)
async def unregister_device(
    device_id: DeviceId, user: ActingUser, ctx: NotificationsDep
) -> Response:
    """Forget a device: nothing more is pushed to it."""
    await service.unregister_device(ctx.db, user, device_id)
    return Response(status_code=204)


@router.get("/devices", response_model=Page[Device])
async def list_devices(
    user: ActingUser, session: DbSession, cursor: CursorParam = None, limit: LimitParam = None
) -> Page[Device]:
    """The acting user's devices, newest first."""
    return await service.list_devices(session, user, cursor, limit)


@router.post("/send", response_model=SendResult, status_code=202)
async def send(request: SendToUser, user: ActingUser, ctx: NotificationsDep) -> SendResult:
    """Push to every device of the acting user and keep it in their inbox (idempotent)."""
    return await ctx.send_to_user(user, request)


@router.post("/pokes", response_model=PokeResult, status_code=202)
async def poke(request: Poke, user: ActingUser, ctx: NotificationsDep) -> PokeResult:
    """One silent push to the acting user's other devices so they sync (idempotent)."""
    return await ctx.poke(user, request)


@router.get("/notifications", response_model=Page[Notification])
async def list_notifications(
    user: ActingUser,
    ctx: NotificationsDep,
    cursor: CursorParam = None,
    limit: LimitParam = None,
    unread: UnreadOnly = False,
    count_unread: CountUnread = False,
) -> Response:
    """The acting user's inbox, newest first; `unread=true`: only what is not read yet."""
    page, count = await service.list_notifications(
        ctx.db, user, cursor, limit, unread=unread, count_unread=count_unread
    )
    headers = {UNREAD_COUNT_HEADER: str(count)} if count is not None else None
    return json_response(page, headers=headers)


@router.post("/send/devices", response_model=SendResult, status_code=202)
async def send_to_devices(
    request: SendToDevices, user: ActingUser, ctx: NotificationsDep
) -> SendResult:
    """Push to some devices of the acting user and keep it in their inbox (idempotent)."""
    return await ctx.send_to_devices(user, request)


@router.post("/notifications/read", response_model=ReadResult)
async def mark_read(request: MarkRead, user: ActingUser, ctx: NotificationsDep) -> ReadResult:
    """Mark many (ids) or all of the acting user's notifications read."""
    return await service.mark_read(ctx.db, user, request)


@router.get("/notifications/unread-count", response_model=UnreadCount)
async def unread_count(user: ActingUser, ctx: NotificationsDep) -> UnreadCount:
    """How many of the acting user's notifications are unread."""
    return UnreadCount(unread=await service.unread_count(ctx.db, user))


@router.post("/notifications/{notification_id}/read", response_model=Notification)
async def mark_one_read(
    notification_id: UUID, user: ActingUser, ctx: NotificationsDep
) -> Notification:
    """Mark one notification read."""
    return await service.mark_one_read(ctx.db, user, notification_id)


@router.get("/preferences", response_model=Preferences)
async def get_preferences(user: ActingUser, session: DbSession) -> Preferences:
    """The acting user's push preferences."""
    return await service.get_preferences(session, user)


@router.put("/preferences", response_model=Preferences)
async def put_preferences(
    prefs: Preferences, user: ActingUser, ctx: NotificationsDep
) -> Preferences:
    """Replace the acting user's push preferences."""
    return await service.put_preferences(ctx.db, user, prefs)


@router.put("/devices/{device_id}/topics/{topic}", response_model=TopicSubscription)
async def subscribe(
    device_id: DeviceId, topic: Topic, user: ActingUser, ctx: NotificationsDep
) -> TopicSubscription:
    """Subscribe a device of the acting user to a topic (idempotent)."""
    return await topics.subscribe(
        ctx.db, user, device_id, topic, ctx.settings.max_topics_per_device
    )


@router.delete("/devices/{device_id}/topics/{topic}", status_code=204)
async def unsubscribe(
    device_id: DeviceId, topic: Topic, user: ActingUser, ctx: NotificationsDep
) -> Response:
    """Unsubscribe a device of the acting user from a topic."""
    await topics.unsubscribe(ctx.db, user, device_id, topic)
    return Response(status_code=204)


@router.get("/subscriptions", response_model=Page[TopicSubscription])
async def list_subscriptions(
    user: ActingUser, session: DbSession, cursor: CursorParam = None, limit: LimitParam = None
) -> Page[TopicSubscription]:
    """The acting user's topic subscriptions, newest first."""
    return await topics.list_subscriptions(session, user, cursor, limit)


@router.post("/topics/{topic}/broadcasts", response_model=BroadcastResult, status_code=202)
async def broadcast(
    topic: Topic, request: Broadcast, _caller: Caller, ctx: NotificationsDep
) -> BroadcastResult:
    """Push to every device subscribed to a topic (idempotent per topic and key)."""
    return await ctx.broadcast(topic, request)


@router.get("/broadcasts/{broadcast_id}", response_model=BroadcastResult)
async def get_broadcast(broadcast_id: UUID, _caller: Caller, session: DbSession) -> BroadcastResult:
    """How far a broadcast's fan-out got."""
    return await topics.get_broadcast(session, broadcast_id)


# Reads across every user, for the BFF's admin API only.
_BFF_ONLY = [only_from("bff")]


@router.get("/topics/{topic}/audience", response_model=TopicAudience, dependencies=_BFF_ONLY)
async def topic_audience(topic: Topic, session: DbSession) -> TopicAudience:
    """How many devices a broadcast to this topic would reach now (a dry run)."""
    return await operator_reads.topic_audience(session, topic)


@router.get("/deliveries/dead", response_model=Page[DeadDelivery], dependencies=_BFF_ONLY)
async def dead_deliveries(
    session: DbSession,
    status: DeadStatus = "failed",
    cursor: CursorParam = None,
    limit: LimitParam = None,
) -> Page[DeadDelivery]:
    """Pushes given up on (`failed`) or refused for a dead token (`invalid_token`), newest
    first."""
    return await operator_reads.dead_deliveries(session, status, cursor, limit)
