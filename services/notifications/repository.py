"""Queries of the notifications service; callers own the session and its transaction."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from services.kit.errors import Action, ApiError
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
    session: AsyncSession,
    table: type[RowT],
    owner_id: str,
    after: dict[str, Any] | None,
    limit: int,
) -> tuple[list[RowT], dict[str, Any] | None]:
    """One page ordered by (created_at, id) descending, and the position after its last row."""
    query = sa.select(table).where(table.owner_id == owner_id)
    if after is not None:
        created_at, row_id = _position(after)
        query = query.where(
            sa.or_(
                table.created_at < created_at,
                sa.and_(table.created_at == created_at, table.id < row_id),
            )
        )
    query = query.order_by(table.created_at.desc(), table.id.desc()).limit(limit + 1)
    rows = list((await session.execute(query)).scalars().all())
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], {"t": last.created_at.isoformat(), "id": str(last.id)}


def _position(after: dict[str, Any]) -> tuple[datetime, uuid.UUID]:
    try:
        created_at = datetime.fromisoformat(str(after["t"]))
        row_id = uuid.UUID(str(after["id"]))
    except (KeyError, ValueError) as exc:
        raise ApiError(
            400, "INVALID_CURSOR", "the cursor is not valid", action=Action.FIX_INPUT
        ) from exc
    if created_at.tzinfo is None:
        raise ApiError(400, "INVALID_CURSOR", "the cursor is not valid", action=Action.FIX_INPUT)
    return created_at, row_id


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
