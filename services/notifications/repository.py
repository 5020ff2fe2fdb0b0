"""Queries of the notifications service; callers own the session and its transaction."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from services.kit.keyset import Position, newest_first
from services.notifications.tables import DeliveryRow, DeviceRow, NotificationRow

RowT = TypeVar("RowT", DeviceRow, NotificationRow)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def get_device(session: AsyncSession, owner_id: str, device_id: str) -> DeviceRow | None:
    query = sa.select(DeviceRow).where(
        DeviceRow.owner_id == owner_id, DeviceRow.device_id == device_id
    )
    return (await session.execute(query)).scalar_one_or_none()


async def delete_other_holders_of_token(
    session: AsyncSession, token_digest: str, keep: uuid.UUID | None
) -> None:
    """A token belongs to one device: whoever registers it last."""
    query = sa.delete(DeviceRow).where(DeviceRow.token_hash == token_digest)
    if keep is not None:
        query = query.where(DeviceRow.id != keep)
    await session.execute(query)


async def count_devices(session: AsyncSession, owner_id: str) -> int:
    query = sa.select(sa.func.count()).select_from(DeviceRow).where(DeviceRow.owner_id == owner_id)
    return int((await session.execute(query)).scalar_one())


async def devices_of(session: AsyncSession, owner_id: str) -> Sequence[DeviceRow]:
    query = sa.select(DeviceRow).where(DeviceRow.owner_id == owner_id)
    return (await session.execute(query)).scalars().all()


async def delete_device_if_token(session: AsyncSession, device_pk: uuid.UUID, token: str) -> bool:
    """Remove a device whose token a provider called dead, unless it re-registered since."""
    query = sa.delete(DeviceRow).where(
        DeviceRow.id == device_pk, DeviceRow.token_hash == token_hash(token)
    )
    result = await session.execute(query)
    return bool(getattr(result, "rowcount", 0))


async def find_notification(
    session: AsyncSession, owner_id: str, idempotency_key: str
) -> NotificationRow | None:
    query = sa.select(NotificationRow).where(
        NotificationRow.owner_id == owner_id, NotificationRow.idempotency_key == idempotency_key
    )
    return (await session.execute(query)).scalar_one_or_none()


async def count_deliveries(session: AsyncSession, notification_id: uuid.UUID) -> int:
    query = (
        sa.select(sa.func.count())
        .select_from(DeliveryRow)
        .where(DeliveryRow.notification_id == notification_id)
    )
    return int((await session.execute(query)).scalar_one())


async def page_newest_first(
    session: AsyncSession, table: type[RowT], owner_id: str, after: Position | None, limit: int
) -> list[RowT]:
    """The owner's rows, newest first by (created_at, id), after `after`: up to `limit` + 1."""
    query = sa.select(table).where(table.owner_id == owner_id)
    query = newest_first(query, table.created_at, table.id, after, limit)
    return list((await session.execute(query)).scalars().all())


async def claim_due_deliveries(
    session: AsyncSession, now: datetime, lease_until: datetime, limit: int
) -> tuple[uuid.UUID, list[DeliveryRow]]:
    """Lease up to `limit` pending deliveries that are due; a crash lets the lease run out."""
    query = (
        sa.select(DeliveryRow)
        .where(DeliveryRow.status == "pending", DeliveryRow.next_attempt_at <= now)
        .order_by(DeliveryRow.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = list((await session.execute(query)).scalars().all())
    claim_id = uuid.uuid4()
    for row in rows:
        row.claim_id = claim_id
        row.attempts += 1
        row.next_attempt_at = lease_until
        row.updated_at = now
    return claim_id, rows


async def notifications_by_id(
    session: AsyncSession, ids: set[uuid.UUID]
) -> dict[uuid.UUID, NotificationRow]:
    if not ids:
        return {}
    query = sa.select(NotificationRow).where(NotificationRow.id.in_(ids))
    return {row.id: row for row in (await session.execute(query)).scalars().all()}


async def devices_by_id(session: AsyncSession, ids: set[uuid.UUID]) -> dict[uuid.UUID, DeviceRow]:
    if not ids:
        return {}
    query = sa.select(DeviceRow).where(DeviceRow.id.in_(ids))
    return {row.id: row for row in (await session.execute(query)).scalars().all()}


async def next_due_at(session: AsyncSession) -> datetime | None:
    """When the earliest pending delivery becomes due (None when nothing is pending)."""
    query = sa.select(sa.func.min(DeliveryRow.next_attempt_at)).where(
        DeliveryRow.status == "pending"
    )
    value: datetime | None = (await session.execute(query)).scalar_one_or_none()
    return value
