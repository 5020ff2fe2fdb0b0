"""What the operator surface reads across users: a topic's audience, pushes given up on."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from proto.common import Page
from proto.notifications import MAX_COUNT, DeadDelivery, DeadStatus, TopicAudience
from services.kit.paging import clamp_limit, cursor_position, split_page
from services.notifications import repository
from services.notifications.tables import DeliveryRow
from services.notifications.topics import valid_topic


async def topic_audience(session: AsyncSession, topic: str) -> TopicAudience:
    """How many devices a broadcast to `topic` would reach now (up to MAX_COUNT)."""
    valid_topic(topic)
    counted = await repository.count_topic_devices(session, topic, MAX_COUNT + 1)
    return TopicAudience(topic=topic, devices=min(counted, MAX_COUNT), at_least=counted > MAX_COUNT)


async def dead_deliveries(
    session: AsyncSession, status: DeadStatus, cursor: str | None, limit: int | None
) -> Page[DeadDelivery]:
    """Pushes settled as `status` (failed, invalid_token), newest first."""
    size = clamp_limit(limit)
    rows = await repository.dead_deliveries(session, status, cursor_position(cursor), size)
    page, next_cursor = split_page(rows, size, lambda row: (row.next_attempt_at, row.id))
    return Page[DeadDelivery](items=[_dead(row) for row in page], next_cursor=next_cursor)


def _dead(row: DeliveryRow) -> DeadDelivery:
    return DeadDelivery(
        id=row.id,
        source=row.source,
        content_id=row.notification_id,
        owner_id=row.owner_id,
        platform=row.platform,
        status=row.status,
        attempts=row.attempts,
        last_error=row.last_error,
        created_at=row.created_at,
        failed_at=row.next_attempt_at,
    )
