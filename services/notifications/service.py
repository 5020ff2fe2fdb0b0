"""Devices, sending to a user (inbox entry + outbox rows in one transaction), and the inbox."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from proto.common import Page
from proto.notifications import (
    Broadcast,
    Device,
    DeviceRegister,
    MarkRead,
    Notification,
    Preferences,
    ReadResult,
    SendResult,
    SendToDevices,
    SendToUser,
)
from services.kit.change_versions import rows_data
from services.kit.clock import utc_now
from services.kit.database import Database, again_if_raced
from services.kit.errors import Action, ApiError, invalid_input, not_found
from services.kit.paging import clamp_limit, cursor_position, split_page
from services.kit.responses import JsonPage
from services.notifications import changes, policy, repository
from services.notifications.payloads import (
    MAX_COLLAPSE_KEY_BYTES,
    RESERVED_DATA_KEYS,
    RESERVED_DATA_PREFIXES,
    content_of,
    payload_sizes,
)
from services.notifications.push_types import PushContent
from services.notifications.repository import UNREAD_KEY
from services.notifications.settings import NotificationsSettings
from services.notifications.tables import (
    VERSIONS,
    DeliveryRow,
    DeviceRow,
    NotificationRow,
    PreferencesRow,
)

RowT = TypeVar("RowT")
ResultT = TypeVar("ResultT")


async def register_device(
    db: Database, owner_id: str, device_id: str, register: DeviceRegister, max_devices: int
) -> Device:
    """Create or update a device; its token leaves any device that held it before."""
    return await again_if_raced(
        lambda: _register_device(db, owner_id, device_id, register, max_devices)
    )


async def _register_device(
    db: Database, owner_id: str, device_id: str, register: DeviceRegister, max_devices: int
) -> Device:
    now = utc_now()
    digest = repository.token_hash(register.token)
    # The owner's change writer first: it holds their device writes in line (a row lock on
    # PostgreSQL, the write lock on SQLite), so what is read next stays true to commit.
    async with db.transaction() as session, changes.writer(session, owner_id) as feed:
        device = await repository.get_device(session, owner_id, device_id)
        moved = await repository.delete_other_holders_of_token(
            session, digest, device.id if device else None
        )
        for previous in moved:
            if previous.owner_id == owner_id:
                await feed.record(changes.DEVICE, previous.device_id, "delete", at=now)
                continue
            async with changes.writer(session, previous.owner_id) as theirs:
                await theirs.record(changes.DEVICE, previous.device_id, "delete", at=now)
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
        registered = _device(device)
        await feed.record(
            changes.DEVICE, device_id, "upsert", registered.model_dump(mode="json"), now
        )
    return registered


async def unregister_device(db: Database, owner_id: str, device_id: str) -> None:
    """Forget a device of this user and its topic subscriptions (404 when it is not theirs)."""
    await again_if_raced(lambda: _unregister_device(db, owner_id, device_id))


async def _unregister_device(db: Database, owner_id: str, device_id: str) -> None:
    # The writer first, as in registering: the owner's device writes go one at a time.
    async with db.transaction() as session, changes.writer(session, owner_id) as feed:
        device = await repository.get_device(session, owner_id, device_id)
        if device is None:
            raise not_found("device", device_id)
        topics = await repository.delete_subscriptions_of(session, device.id)
        await session.delete(device)
        await feed.record_many(
            changes.SUBSCRIPTION,
            [(changes.subscription_key(device_id, topic), None) for topic in topics],
            "delete",
        )
        await feed.record(changes.DEVICE, device_id, "delete")


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
    db: Database,
    owner_id: str,
    request: SendToUser,
    settings: NotificationsSettings,
    device_ids: list[str] | None = None,
) -> SendResult:
    """Save the inbox entry and one pending delivery per device, atomically (the outbox).

    With `device_ids`, only those devices of the user are pushed to (404 for one not theirs).
    """
    now = utc_now()
    notification = NotificationRow(
        id=uuid.uuid4(),
        owner_id=owner_id,
        idempotency_key=request.idempotency_key,
        **push_columns(request, now),
    )
    check_payload(request.kind, request.data, content_of(notification), settings.max_payload_bytes)

    async def find(session: AsyncSession) -> NotificationRow | None:
        return await repository.find_notification(session, owner_id, request.idempotency_key)

    async def insert(session: AsyncSession) -> SendResult:
        devices = await _target_devices(session, owner_id, device_ids)
        session.add(notification)
        decision = await _decide(session, owner_id, notification, now)
        if decision.suppressed is None:
            due = decision.not_before or now
            session.add_all(
                pending_delivery(notification.id, "user", device, owner_id, due, now)
                for device in devices
            )
        async with changes.writer(session, owner_id) as feed:
            await feed.record(
                changes.NOTIFICATION,
                str(notification.id),
                "upsert",
                _notification(notification).model_dump(mode="json"),
                now,
            )
        return SendResult(
            notification_id=notification.id,
            deliveries=0 if decision.suppressed else len(devices),
            suppressed=decision.suppressed,
            deferred_until=decision.not_before,
        )

    return await insert_once(db, find, insert, _duplicate)


async def send_to_devices(
    db: Database, owner_id: str, request: SendToDevices, settings: NotificationsSettings
) -> SendResult:
    """Push to the named devices of the acting user (and keep it in their inbox)."""
    content = SendToUser.model_validate(request.model_dump(exclude={"device_ids"}))
    return await send_to_user(db, owner_id, content, settings, list(request.device_ids))


async def insert_once(
    db: Database,
    find: Callable[[AsyncSession], Awaitable[RowT | None]],
    insert: Callable[[AsyncSession], Awaitable[ResultT]],
    duplicate: Callable[[AsyncSession, RowT], Awaitable[ResultT]],
) -> ResultT:
    """`insert` in one transaction unless `find` sees the row saved already: then, as when a
    concurrent insert of the same idempotency key wins the race, what `duplicate` answers."""
    try:
        async with db.transaction() as session:
            existing = await find(session)
            if existing is not None:
                return await duplicate(session, existing)
            return await insert(session)
    except IntegrityError:
        # The same key was sent concurrently and the other request won.
        async with db.session() as session:
            existing = await find(session)
            if existing is None:
                raise
            return await duplicate(session, existing)


def push_columns(request: SendToUser | Broadcast, now: datetime) -> dict[str, Any]:
    """The `PushColumns` of a notification or broadcast of `request`, sent at `now`."""
    display = request.kind == "display"
    return {
        "kind": request.kind,
        "category": request.category,
        "title": request.title if display else None,
        "body": request.body if display else None,
        "data": dict(request.data),
        "collapse_key": request.collapse_key,
        "priority": request.priority,
        "ttl_s": request.ttl_s,
        "created_at": now,
        "expires_at": now + timedelta(seconds=request.ttl_s),
    }


async def _duplicate(session: AsyncSession, existing: NotificationRow) -> SendResult:
    deliveries = await repository.count_deliveries(session, existing.id)
    return SendResult(notification_id=existing.id, deliveries=deliveries, duplicate=True)


async def _target_devices(
    session: AsyncSession, owner_id: str, device_ids: list[str] | None
) -> list[DeviceRow]:
    if device_ids is None:
        return list(await repository.devices_of(session, owner_id))
    devices = await repository.devices_named(session, owner_id, device_ids)
    missing = sorted(set(device_ids) - {d.device_id for d in devices})
    if missing:
        raise not_found("device", missing[0])
    return devices


async def _decide(
    session: AsyncSession, owner_id: str, notification: NotificationRow, now: datetime
) -> policy.Decision:
    user_policy = policy.policy_of(await repository.get_preferences(session, owner_id))
    decision = policy.decide(user_policy, notification.kind, notification.category, now)
    if decision.suppressed is None and policy.counts_against_cap(user_policy, notification.kind):
        count = await repository.bump_push_count(session, owner_id, policy.hour_of(now))
        if user_policy.hourly_cap is not None and count > user_policy.hourly_cap:
            return policy.Decision(suppressed=policy.HOURLY_CAP)
    return decision


async def get_preferences(session: AsyncSession, owner_id: str) -> Preferences:
    """The acting user's push preferences (defaults until they set some)."""
    return policy.preferences_of(await repository.get_preferences(session, owner_id))


async def put_preferences(db: Database, owner_id: str, prefs: Preferences) -> Preferences:
    """Replace the acting user's push preferences."""
    policy.zone_named(prefs.timezone)
    muted = sorted(set(prefs.muted_categories))
    for category in muted:
        if not 1 <= len(category) <= 64:
            raise invalid_input("INVALID_CATEGORY", "categories are 1 to 64 characters")
    now = utc_now()
    async with db.transaction() as session, changes.writer(session, owner_id) as feed:
        row = await repository.get_preferences(session, owner_id)
        if row is None:
            row = PreferencesRow(owner_id=owner_id)
            session.add(row)
        row.timezone = prefs.timezone
        row.quiet_start = prefs.quiet_hours.start if prefs.quiet_hours else None
        row.quiet_end = prefs.quiet_hours.end if prefs.quiet_hours else None
        row.muted_categories = muted
        row.hourly_cap = prefs.hourly_cap
        row.updated_at = now
        saved = policy.preferences_of(row)
        await feed.record(
            changes.PREFERENCES, owner_id, "upsert", saved.model_dump(mode="json"), now
        )
    return saved


async def mark_one_read(db: Database, owner_id: str, notification_id: uuid.UUID) -> Notification:
    """Mark one of the user's notifications read (404 when it is not theirs)."""
    now = utc_now()
    async with db.transaction() as session, changes.writer(session, owner_id) as feed:
        row = await session.get(NotificationRow, notification_id)
        if row is None or row.owner_id != owner_id:
            raise not_found("notification", str(notification_id))
        if row.read_at is None:  # read state only moves forward: a replay changes nothing
            row.read_at = now
            await feed.record(
                changes.NOTIFICATION,
                str(row.id),
                "upsert",
                _notification(row).model_dump(mode="json"),
                now,
            )
    return _notification(row)


async def mark_read(db: Database, owner_id: str, request: MarkRead) -> ReadResult:
    """Mark many (`ids`) or all of the user's notifications read; ids not theirs are ignored."""
    if request.all == bool(request.ids):
        raise invalid_input("IDS_OR_ALL_REQUIRED", "give either ids or all=true, not both")
    now = utc_now()
    async with db.transaction() as session, changes.writer(session, owner_id) as feed:
        changed = await repository.mark_read(
            session, owner_id, None if request.all else request.ids, now
        )
        await feed.record_many(
            changes.NOTIFICATION,
            [
                (str(row.id), _read(_notification(row), now).model_dump(mode="json"))
                for row in changed
            ],
            "upsert",
            now,
        )
        unread = await repository.unread_count(session, owner_id)
    return ReadResult(updated=len(changed), unread=unread)


async def unread_count(db: Database, owner_id: str) -> int:
    """How many of the user's notifications are unread."""
    [row] = await db.fetch_all(repository.UNREAD_COUNT, {"owner_id": owner_id})
    await VERSIONS.answer(db, owner_id, [row])
    return int(row[0])


async def list_notifications(
    db: Database,
    owner_id: str,
    cursor: str | None,
    limit: int | None,
    *,
    unread: bool = False,
    count_unread: bool = False,
) -> tuple[JsonPage, int | None]:
    """The user's inbox newest first, or only its unread entries (the cursor pages the same;
    the `Page[Notification]` contract); with `count_unread`, how many are unread, too."""
    size = clamp_limit(limit)
    inbox = repository.INBOXES[unread, count_unread]
    statement, params = inbox.bind(cursor_position(cursor), size, owner_id=owner_id)
    rows = await db.fetch_all(statement, params)
    await VERSIONS.answer(db, owner_id, rows)
    count = None
    if count_unread:
        count = getattr(rows[0], UNREAD_KEY) if rows else await unread_count(db, owner_id)
    page, next_cursor = split_page(rows, size, lambda row: (row.created_at, row.id))
    items = rows_data(page, leave_out=(UNREAD_KEY,))
    return {"items": items, "next_cursor": next_cursor}, count


def _check_data_keys(data: dict[str, str]) -> None:
    for key in data:
        if key in RESERVED_DATA_KEYS or key.startswith(RESERVED_DATA_PREFIXES):
            raise invalid_input(
                "RESERVED_DATA_KEY", f"data key {key!r} is reserved by the push providers", key=key
            )


def _check_collapse_key(collapse_key: str | None) -> None:
    if collapse_key and len(collapse_key.encode()) > MAX_COLLAPSE_KEY_BYTES:
        raise invalid_input(
            "COLLAPSE_KEY_TOO_LONG",
            f"a collapse key is at most {MAX_COLLAPSE_KEY_BYTES} bytes of UTF-8",
            limit=MAX_COLLAPSE_KEY_BYTES,
        )


def check_payload(kind: str, data: dict[str, str], content: PushContent, limit: int) -> None:
    """Reserved keys, a display push without text, or a payload over `limit`: 400."""
    _check_data_keys(data)
    _check_collapse_key(content.collapse_key)
    if kind == "display" and not (content.title or content.body):
        raise invalid_input("TITLE_OR_BODY_REQUIRED", "a display push needs a title or a body")
    _check_sizes(content, limit)


def _check_sizes(content: PushContent, limit: int) -> None:
    sizes = payload_sizes(content)
    if max(sizes.values()) > limit:
        raise invalid_input(
            "PAYLOAD_TOO_LARGE",
            f"the push payload would be {max(sizes.values())} bytes; providers accept {limit}",
            limit=limit,
            **{f"{platform}_bytes": size for platform, size in sizes.items()},
        )


def pending_delivery(
    content_id: uuid.UUID,
    source: str,
    device: DeviceRow,
    owner_id: str,
    due: datetime,
    now: datetime,
) -> DeliveryRow:
    """One outbox row: push `content_id` to `device` from `due` on."""
    return DeliveryRow(
        id=uuid.uuid4(),
        notification_id=content_id,
        source=source,
        device_pk=device.id,
        owner_id=owner_id,
        platform=device.platform,
        status="pending",
        attempts=0,
        next_attempt_at=due,
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


def _read(notification: Notification, at: datetime) -> Notification:
    return notification.model_copy(update={"read_at": at})


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
