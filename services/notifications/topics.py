"""Topic subscriptions of a user's devices, and broadcasts to a topic (fanned out later)."""

from __future__ import annotations

import re
import uuid

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from proto.common import Page
from proto.notifications import Broadcast, BroadcastResult, TopicSubscription
from services.kit.clock import utc_now
from services.kit.database import Database
from services.kit.errors import Action, ApiError, invalid_input, not_found
from services.kit.paging import clamp_limit, cursor_position, split_page
from services.notifications import changes, repository
from services.notifications.payloads import content_of
from services.notifications.service import check_payload, insert_once, push_columns
from services.notifications.settings import NotificationsSettings
from services.notifications.tables import BroadcastRow, TopicSubscriptionRow

# The characters FCM allows in topic names.
_TOPIC = re.compile(r"^[A-Za-z0-9_.~%-]{1,100}$")


def valid_topic(topic: str) -> str:
    """`topic`, or 400 INVALID_TOPIC."""
    if not _TOPIC.match(topic):
        raise invalid_input(
            "INVALID_TOPIC", "a topic is 1 to 100 of the characters A-Z a-z 0-9 _ . ~ % -"
        )
    return topic


async def subscribe(
    db: Database, owner_id: str, device_id: str, topic: str, max_topics: int
) -> TopicSubscription:
    """Subscribe one of the user's devices to a topic (idempotent)."""
    valid_topic(topic)
    now = utc_now()
    try:
        async with db.transaction() as session, changes.writer(session, owner_id) as feed:
            device = await repository.get_device(session, owner_id, device_id)
            if device is None:
                raise not_found("device", device_id)
            row = await repository.get_subscription(session, topic, device.id)
            if row is not None:
                return _subscription(row, device_id)
            if await repository.count_subscriptions(session, device.id) >= max_topics:
                raise ApiError(
                    409,
                    "TOO_MANY_TOPICS",
                    f"a device may follow at most {max_topics} topics; unsubscribe from one",
                    action=Action.FIX_INPUT,
                    details={"limit": max_topics},
                )
            row = TopicSubscriptionRow(
                id=uuid.uuid4(), topic=topic, device_pk=device.id, owner_id=owner_id, created_at=now
            )
            session.add(row)
            await feed.record(
                changes.SUBSCRIPTION,
                changes.subscription_key(device_id, topic),
                "upsert",
                _subscription(row, device_id).model_dump(mode="json"),
                now,
            )
    except IntegrityError:
        # The same subscription was made concurrently: it exists now.
        async with db.session() as session:
            device = await repository.get_device(session, owner_id, device_id)
            existing = (
                await repository.get_subscription(session, topic, device.id) if device else None
            )
            if existing is None:
                raise
            return _subscription(existing, device_id)
    return _subscription(row, device_id)


async def unsubscribe(db: Database, owner_id: str, device_id: str, topic: str) -> None:
    """Unsubscribe a device of the user (404 when it was not subscribed)."""
    valid_topic(topic)
    async with db.transaction() as session, changes.writer(session, owner_id) as feed:
        device = await repository.get_device(session, owner_id, device_id)
        if device is None:
            raise not_found("device", device_id)
        row = await repository.get_subscription(session, topic, device.id)
        if row is None:
            raise not_found("subscription", topic)
        await session.delete(row)
        key = changes.subscription_key(device_id, topic)
        await feed.record(changes.SUBSCRIPTION, key, "delete")


async def list_subscriptions(
    session: AsyncSession, owner_id: str, cursor: str | None, limit: int | None
) -> Page[TopicSubscription]:
    """The user's subscriptions, newest first."""
    size = clamp_limit(limit)
    rows = await repository.page_newest_first(
        session, TopicSubscriptionRow, owner_id, cursor_position(cursor), size
    )
    page, next_cursor = split_page(rows, size, lambda row: (row.created_at, row.id))
    devices = await repository.devices_by_id(session, {row.device_pk for row in page})
    items = [
        _subscription(row, devices[row.device_pk].device_id)
        for row in page
        if row.device_pk in devices
    ]
    return Page[TopicSubscription](items=items, next_cursor=next_cursor)


async def broadcast(
    db: Database, topic: str, request: Broadcast, settings: NotificationsSettings
) -> BroadcastResult:
    """Record a broadcast; the fan-out worker turns it into deliveries a page at a time."""
    valid_topic(topic)
    now = utc_now()
    row = BroadcastRow(
        id=uuid.uuid4(),
        topic=topic,
        idempotency_key=request.idempotency_key,
        **push_columns(request, now),
        status="fanning_out",
        fanned_out_to=None,
        deliveries=0,
        lease_until=now,
    )
    check_payload(request.kind, request.data, content_of(row), settings.max_payload_bytes)

    async def find(session: AsyncSession) -> BroadcastRow | None:
        return await repository.find_broadcast(session, topic, request.idempotency_key)

    async def insert(session: AsyncSession) -> BroadcastResult:
        session.add(row)
        return broadcast_result(row)

    async def duplicate(_session: AsyncSession, existing: BroadcastRow) -> BroadcastResult:
        return broadcast_result(existing, duplicate=True)

    return await insert_once(db, find, insert, duplicate)


async def get_broadcast(session: AsyncSession, broadcast_id: uuid.UUID) -> BroadcastResult:
    """How far a broadcast's fan-out got."""
    row = await session.get(BroadcastRow, broadcast_id)
    if row is None:
        raise not_found("broadcast", str(broadcast_id))
    return broadcast_result(row)


def broadcast_result(row: BroadcastRow, duplicate: bool = False) -> BroadcastResult:
    return BroadcastResult(
        broadcast_id=row.id,
        topic=row.topic,
        status=row.status,
        deliveries=row.deliveries,
        duplicate=duplicate,
    )


def _subscription(row: TopicSubscriptionRow, device_id: str) -> TopicSubscription:
    return TopicSubscription(topic=row.topic, device_id=device_id, created_at=row.created_at)
