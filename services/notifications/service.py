"""Devices, sending to a user (inbox entry + outbox rows in one transaction), and the inbox."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from proto.common import Page
from proto.notifications import Device, DeviceRegister, Notification, SendResult, SendToUser
from services.kit.database import Database
from services.kit.errors import Action, ApiError, invalid_input, not_found
from services.kit.keyset import cursor_position, split_page
from services.kit.pagination import clamp_limit
from services.notifications import repository
from services.notifications.payloads import (
    RESERVED_DATA_KEYS,
    RESERVED_DATA_PREFIXES,
    payload_sizes,
)
from services.notifications.push_types import PushContent
from services.notifications.settings import NotificationsSettings
from services.notifications.tables import DeliveryRow, DeviceRow, NotificationRow


def _now() -> datetime:
    return datetime.now(UTC)


async def register_device(
    db: Database, owner_id: str, device_id: str, register: DeviceRegister, max_devices: int
) -> Device:
    """Create or update a device; its token leaves any device that held it before."""
    try:
        return await _register_device(db, owner_id, device_id, register, max_devices)
    except IntegrityError:
        # Another request registered the same device or token at the same moment: go again.
        return await _register_device(db, owner_id, device_id, register, max_devices)


async def _register_device(
    db: Database, owner_id: str, device_id: str, register: DeviceRegister, max_devices: int
) -> Device:
    now = _now()
    digest = repository.token_hash(register.token)
    async with db.transaction() as session:
        device = await repository.get_device(session, owner_id, device_id)
        await repository.delete_other_holders_of_token(
            session, digest, device.id if device else None
        )
        if device is None:
            if await repository.count_devices(session, owner_id) >= max_devices:
                raise ApiError(
                    409,
                    "TOO_MANY_DEVICES",
                    f"a user may register at most {max_devices} devices; unregister one first",
                    action=Action.FIX_INPUT,
                    details={"limit": max_devices},
                )
            device = DeviceRow(
                id=uuid.uuid4(), owner_id=owner_id, device_id=device_id, created_at=now
            )
            session.add(device)
        device.platform = register.platform
        device.token = register.token
        device.token_hash = digest
        device.app_version = register.app_version
        device.locale = register.locale
        device.timezone = register.timezone
        device.updated_at = now
    return _device(device)


async def unregister_device(session: AsyncSession, owner_id: str, device_id: str) -> None:
    """Forget a device of this user (404 when it is not theirs)."""
    device = await repository.get_device(session, owner_id, device_id)
    if device is None:
        raise not_found("device", device_id)
    await session.delete(device)
    await session.commit()


async def list_devices(
    session: AsyncSession, owner_id: str, cursor: str | None, limit: int | None
) -> Page[Device]:
    size = clamp_limit(limit)
    rows = await repository.page_newest_first(
        session, DeviceRow, owner_id, cursor_position(cursor), size
    )
    page, next_cursor = split_page(rows, size, lambda row: (row.created_at, row.id))
    return Page[Device](items=[_device(row) for row in page], next_cursor=next_cursor)


async def send_to_user(
    db: Database, owner_id: str, request: SendToUser, settings: NotificationsSettings
) -> SendResult:
    """Save the inbox entry and one pending delivery per device, atomically (the outbox)."""
    _check_data_keys(request.data)
    if request.kind == "display" and not (request.title or request.body):
        raise invalid_input("TITLE_OR_BODY_REQUIRED", "a display push needs a title or a body")
    now = _now()
    notification = NotificationRow(
        id=uuid.uuid4(),
        owner_id=owner_id,
        idempotency_key=request.idempotency_key,
        kind=request.kind,
        category=request.category,
        title=request.title if request.kind == "display" else None,
        body=request.body if request.kind == "display" else None,
        data=dict(request.data),
        collapse_key=request.collapse_key,
        priority=request.priority,
        ttl_s=request.ttl_s,
        created_at=now,
        expires_at=now + timedelta(seconds=request.ttl_s),
    )
    _check_payload_size(notification, settings.max_payload_bytes)
    try:
        async with db.transaction() as session:
            existing = await repository.find_notification(
                session, owner_id, request.idempotency_key
            )
            if existing is not None:
                deliveries = await repository.count_deliveries(session, existing.id)
                return SendResult(
                    notification_id=existing.id, deliveries=deliveries, duplicate=True
                )
            session.add(notification)
            devices = await repository.devices_of(session, owner_id)
            session.add_all(_pending_delivery(notification, device, now) for device in devices)
    except IntegrityError:
        # The same key was sent concurrently and the other request won.
        async with db.session() as session:
            existing = await repository.find_notification(
                session, owner_id, request.idempotency_key
            )
            if existing is None:
                raise
            deliveries = await repository.count_deliveries(session, existing.id)
        return SendResult(notification_id=existing.id, deliveries=deliveries, duplicate=True)
    return SendResult(notification_id=notification.id, deliveries=len(devices))


async def list_notifications(
    session: AsyncSession, owner_id: str, cursor: str | None, limit: int | None
) -> Page[Notification]:
    size = clamp_limit(limit)
    rows = await repository.page_newest_first(
        session, NotificationRow, owner_id, cursor_position(cursor), size
    )
    page, next_cursor = split_page(rows, size, lambda row: (row.created_at, row.id))
    return Page[Notification](items=[_notification(row) for row in page], next_cursor=next_cursor)


def _check_data_keys(data: dict[str, str]) -> None:
    for key in data:
        if key in RESERVED_DATA_KEYS or key.startswith(RESERVED_DATA_PREFIXES):
            raise invalid_input(
                "RESERVED_DATA_KEY", f"data key {key!r} is reserved by the push providers", key=key
            )


def _check_payload_size(notification: NotificationRow, limit: int) -> None:
    sizes = payload_sizes(
        PushContent(
            notification_id=notification.id,
            kind=notification.kind,
            category=notification.category,
            title=notification.title,
            body=notification.body,
            data=notification.data,
            collapse_key=notification.collapse_key,
            priority=notification.priority,
            ttl_s=notification.ttl_s,
            expires_at=notification.expires_at,
        )
    )
    if max(sizes.values()) > limit:
        raise invalid_input(
            "PAYLOAD_TOO_LARGE",
            f"the push payload would be {max(sizes.values())} bytes; providers accept {limit}",
            limit=limit,
            **{f"{platform}_bytes": size for platform, size in sizes.items()},
        )


def _pending_delivery(
    notification: NotificationRow, device: DeviceRow, now: datetime
) -> DeliveryRow:
    return DeliveryRow(
        id=uuid.uuid4(),
        notification_id=notification.id,
        device_pk=device.id,
        owner_id=notification.owner_id,
        platform=device.platform,
        status="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )


def _device(row: DeviceRow) -> Device:
    return Device(
        device_id=row.device_id,
        platform=row.platform,
        app_version=row.app_version,
        locale=row.locale,
        timezone=row.timezone,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _notification(row: NotificationRow) -> Notification:
    return Notification(
        id=row.id,
        category=row.category,
        title=row.title,
        body=row.body,
        data=row.data,
        created_at=row.created_at,
        read_at=row.read_at,
    )
