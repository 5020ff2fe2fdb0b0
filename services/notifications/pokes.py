"""Pokes: one silent push to a user's other devices so they sync (no inbox, no change feed).

A poke is not a notification: nothing is shown, so the user's hourly cap, muted categories
and quiet hours do not apply; it is not kept in the inbox, and it records no change (a
change would make the BFF poke again). Its row and its deliveries commit together, so a
poke accepted is sent even if the process dies right after (the outbox).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from proto.notifications import Poke, PokeResult
from services.kit.clock import utc_now
from services.kit.database import Database
from services.notifications import repository
from services.notifications.service import insert_once, pending_delivery
from services.notifications.settings import NotificationsSettings
from services.notifications.tables import PokeRow


async def poke(
    db: Database, owner_id: str, request: Poke, settings: NotificationsSettings
) -> PokeResult:
    """Queue a silent push to every device of the user but `except_device` (idempotent)."""
    now = utc_now()
    row = PokeRow(
        id=uuid.uuid4(),
        owner_id=owner_id,
        idempotency_key=request.idempotency_key,
        scope=request.scope,
        created_at=now,
        expires_at=now + timedelta(seconds=settings.poke_ttl_s),
    )

    async def find(session: AsyncSession) -> PokeRow | None:
        return await repository.find_poke(session, owner_id, request.idempotency_key)

    async def insert(session: AsyncSession) -> PokeResult:
        devices = [
            device
            for device in await repository.devices_of(session, owner_id)
            if device.device_id != request.except_device
        ]
        session.add(row)
        session.add_all(
            pending_delivery(row.id, "poke", device, owner_id, now, now) for device in devices
        )
        return PokeResult(deliveries=len(devices))

    async def duplicate(session: AsyncSession, existing: PokeRow) -> PokeResult:
        deliveries = await repository.count_deliveries(session, existing.id)
        return PokeResult(deliveries=deliveries, duplicate=True)

    return await insert_once(db, find, insert, duplicate)
