"""Queries of the notifications service; callers own the session and its transaction."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from services.kit.paging import NewestFirst, Position, newest_first
from services.notifications.tables import (
    VERSIONS,
    BroadcastRow,
    DeliveryRow,
    DeviceRow,
    NotificationRow,
    PokeRow,
    PreferencesRow,
    PushCountRow,
    TopicSubscriptionRow,
)

RowT = TypeVar("RowT", DeviceRow, NotificationRow, TopicSubscriptionRow)
# The tables the dispatcher and fan-out use per push, for Core statements (no ORM overhead).
_DELIVERIES = cast(sa.Table, DeliveryRow.__table__)
_DEVICES = cast(sa.Table, DeviceRow.__table__)
_SUBSCRIPTIONS = cast(sa.Table, TopicSubscriptionRow.__table__)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def get_device(session: AsyncSession, owner_id: str, device_id: str) -> DeviceRow | None:
    query = sa.select(DeviceRow).where(
        DeviceRow.owner_id == owner_id, DeviceRow.device_id == device_id
    )
    return (await session.execute(query)).scalar_one_or_none()


async def delete_other_holders_of_token(
    session: AsyncSession, token_digest: str, keep: uuid.UUID | None
) -> list[DeviceRow]:
    """A token belongs to one device: whoever registers it last. Returns the devices removed."""
    query = sa.select(DeviceRow).where(DeviceRow.token_hash == token_digest)
    if keep is not None:
        query = query.where(DeviceRow.id != keep)
    removed = list((await session.execute(query)).scalars().all())
    for device in removed:
        await delete_subscriptions_of(session, device.id)
        await session.delete(device)
    return removed


async def delete_subscriptions_of(session: AsyncSession, device_pk: uuid.UUID) -> list[str]:
    """Drop a device's topic subscriptions; the topics it followed."""
    deleted = await session.execute(
        sa.delete(TopicSubscriptionRow)
        .where(TopicSubscriptionRow.device_pk == device_pk)
        .returning(TopicSubscriptionRow.topic)
    )
    return list(deleted.scalars())


async def count_devices(session: AsyncSession, owner_id: str) -> int:
    query = sa.select(sa.func.count()).select_from(DeviceRow).where(DeviceRow.owner_id == owner_id)
    return int((await session.execute(query)).scalar_one())


async def devices_of(session: AsyncSession, owner_id: str) -> Sequence[DeviceRow]:
    query = sa.select(DeviceRow).where(DeviceRow.owner_id == owner_id)
    return (await session.execute(query)).scalars().all()


class RemovedDevice(NamedTuple):
    """A device removed for its dead token, and the topics it followed."""

    owner_id: str
    device_id: str
    topics: list[str]


# Core statements, built once: a dead token is removed while a round's answers are recorded.
_DELETE_DEVICE_IF_TOKEN = (
    sa.delete(_DEVICES)
    .where(
        _DEVICES.c.id == sa.bindparam("device_pk"),
        _DEVICES.c.token_hash == sa.bindparam("token_hash"),
    )
    .returning(_DEVICES.c.owner_id, _DEVICES.c.device_id)
)
_DELETE_SUBSCRIPTIONS_OF = (
    sa.delete(_SUBSCRIPTIONS)
    .where(_SUBSCRIPTIONS.c.device_pk == sa.bindparam("device_pk"))
    .returning(_SUBSCRIPTIONS.c.topic)
)


async def delete_device_if_token(
    session: AsyncSession, device_pk: uuid.UUID, token: str
) -> RemovedDevice | None:
    """Remove a device whose token a provider called dead, unless it re-registered since
    (its token changed); what was removed."""
    removed = (
        await session.execute(
            _DELETE_DEVICE_IF_TOKEN, {"device_pk": device_pk, "token_hash": token_hash(token)}
        )
    ).one_or_none()
    if removed is None:
        return None
    topics = await session.execute(_DELETE_SUBSCRIPTIONS_OF, {"device_pk": device_pk})
    return RemovedDevice(removed.owner_id, removed.device_id, list(topics.scalars()))


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
    after: Position | None,
    limit: int,
    *where: sa.ColumnElement[bool],
) -> list[RowT]:
    """The owner's rows (matching `where`), newest first by (created_at, id), after `after`:
    up to `limit` + 1."""
    query = sa.select(table).where(table.owner_id == owner_id, *where)
    query = newest_first(query, table.created_at, table.id, after, limit)
    return list((await session.execute(query)).scalars().all())


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """A delivery leased to one dispatch round."""

    id: uuid.UUID
    notification_id: uuid.UUID
    source: str
    device_pk: uuid.UUID
    platform: str
    attempts: int


async def claim_due_deliveries(
    session: AsyncSession,
    now: datetime,
    lease_until: datetime,
    limit: int,
    skip_platforms: Collection[str] = (),
) -> tuple[uuid.UUID, list[ClaimedDelivery]]:
    """Lease up to `limit` pending deliveries that are due; a crash lets the lease run out.

    One UPDATE .. RETURNING: the rows are counted as attempted, stamped with this round's
    claim id and pushed out of reach until the lease ends. Deliveries to `skip_platforms`
    (providers that asked us to wait) are left alone.
    """
    claim_id = uuid.uuid4()
    # Core statements on the tables, not the ORM: this runs for every batch and its rows are
    # plain tuples (the ORM's bulk-update and row-loading paths cost more than the query).
    deliveries = _DELIVERIES
    due = (
        sa.select(deliveries.c.id)
        .where(deliveries.c.status == "pending", deliveries.c.next_attempt_at <= now)
        .order_by(deliveries.c.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    if skip_platforms:
        due = due.where(deliveries.c.platform.not_in(skip_platforms))
    claim = (
        sa.update(deliveries)
        .where(deliveries.c.id.in_(due.scalar_subquery()))
        .values(
            claim_id=claim_id,
            attempts=deliveries.c.attempts + 1,
            next_attempt_at=lease_until,
            updated_at=now,
        )
        .returning(
            deliveries.c.id,
            deliveries.c.notification_id,
            deliveries.c.source,
            deliveries.c.device_pk,
            deliveries.c.platform,
            deliveries.c.attempts,
        )
    )
    rows = (await session.execute(claim)).all()
    return claim_id, [ClaimedDelivery(*row) for row in rows]


# One statement for every answer of a round, run once per delivery (executemany): it only
# touches a row still pending under this round's claim (a lease that ran out lost it).
_SETTLE = (
    sa.update(_DELIVERIES)
    .where(
        _DELIVERIES.c.id == sa.bindparam("delivery_id"),
        _DELIVERIES.c.claim_id == sa.bindparam("round_claim_id"),
        _DELIVERIES.c.status == "pending",
    )
    .values(
        status=sa.bindparam("new_status"),
        claim_id=sa.bindparam("new_claim_id"),
        next_attempt_at=sa.bindparam("new_next_attempt_at"),
        last_error=sa.bindparam("new_last_error"),
        provider_message_id=sa.bindparam("new_provider_message_id"),
        sent_at=sa.bindparam("new_sent_at"),
        updated_at=sa.bindparam("new_updated_at"),
        # A claimed delivery that was never sent (its provider paused us) gets its try back.
        attempts=_DELIVERIES.c.attempts - sa.bindparam("attempts_refund"),
    )
)


@dataclass(frozen=True, slots=True)
class Settlement:
    """What one answered delivery becomes."""

    delivery_id: uuid.UUID
    status: str
    claim_id: uuid.UUID | None
    next_attempt_at: datetime
    last_error: str | None
    provider_message_id: str | None
    sent_at: datetime | None
    updated_at: datetime
    attempts_refund: int = 0


async def still_claimed(
    session: AsyncSession, claim_id: uuid.UUID, among: Collection[uuid.UUID] | None = None
) -> set[uuid.UUID]:
    """Ids of the deliveries still pending under `claim_id` (of those in `among`, if given)."""
    deliveries = _DELIVERIES
    query = sa.select(deliveries.c.id).where(
        deliveries.c.claim_id == claim_id, deliveries.c.status == "pending"
    )
    if among is not None:
        query = query.where(deliveries.c.id.in_(set(among)))
    return set((await session.execute(query)).scalars().all())


async def extend_lease(session: AsyncSession, claim_id: uuid.UUID, lease_until: datetime) -> int:
    """Keep the deliveries still pending under `claim_id` leased until `lease_until` (the
    heartbeat of a round in flight); how many it kept. A delivery another round claimed after
    our lease ran out carries that round's claim id, so it is left alone."""
    extend = (
        sa.update(DeliveryRow)
        .where(DeliveryRow.claim_id == claim_id, DeliveryRow.status == "pending")
        .values(next_attempt_at=lease_until)
        .execution_options(synchronize_session=False)
    )
    result = cast(sa.CursorResult[Any], await session.execute(extend))
    return int(result.rowcount)


class _NewUuid(FunctionElement[uuid.UUID]):
    """A fresh random (version 4) uuid the database makes, one per row of a statement."""

    type = sa.Uuid()
    inherit_cache = True


@compiles(_NewUuid)
def _new_uuid(element: _NewUuid, compiler: Any, **kw: Any) -> str:
    return "gen_random_uuid()"  # PostgreSQL 13+


@compiles(_NewUuid, "sqlite")
def _new_uuid_sqlite(element: _NewUuid, compiler: Any, **kw: Any) -> str:
    # The 32 lower-case hex digits sa.Uuid stores on SQLite, with version 4's bits.
    return (
        "lower(hex(randomblob(6)) || '4' || substr(hex(randomblob(2)), 2)"
        " || substr('89ab', 1 + (abs(random()) % 4), 1) || substr(hex(randomblob(2)), 2)"
        " || hex(randomblob(6)))"
    )


def _queue_topic_statement() -> sa.Insert:
    now = sa.bindparam("now", type_=_DELIVERIES.c.created_at.type)
    columns = {
        "id": _NewUuid(),
        "notification_id": sa.bindparam("content_id", type_=_DELIVERIES.c.notification_id.type),
        "source": sa.literal_column("'topic'"),
        "device_pk": _DEVICES.c.id,
        "owner_id": _DEVICES.c.owner_id,
        "platform": _DEVICES.c.platform,
        "status": sa.literal_column("'pending'"),
        "attempts": sa.literal_column("0"),
        "next_attempt_at": sa.bindparam("due", type_=_DELIVERIES.c.next_attempt_at.type),
        "created_at": now,
        "updated_at": now,
    }
    devices = sa.select(*columns.values()).where(
        _DEVICES.c.id.in_(sa.bindparam("device_pks", expanding=True))
    )
    return sa.insert(_DELIVERIES).from_select(list(columns), devices)


# A page of a broadcast's deliveries, made in the database from the devices' rows: no row
# built, bound and sent one by one (uuid, timestamps and all) for every device.
_QUEUE_TOPIC = _queue_topic_statement()


async def queue_topic_deliveries(
    session: AsyncSession,
    content_id: uuid.UUID,
    device_pks: Sequence[uuid.UUID],
    due: datetime,
    now: datetime,
) -> int:
    """Queue a pending delivery of `content_id` (a broadcast) to each of these devices that
    still exists, due at `due`, in one INSERT .. SELECT; how many were queued."""
    if not device_pks:
        return 0
    result = await session.execute(
        _QUEUE_TOPIC,
        {"content_id": content_id, "device_pks": list(device_pks), "due": due, "now": now},
    )
    return int(cast(sa.CursorResult[Any], result).rowcount)


async def settle_deliveries(
    session: AsyncSession, claim_id: uuid.UUID, settlements: Sequence[Settlement]
) -> int | None:
    """Write a round's answers in one executemany (no-op for rows no longer ours); how many
    rows it changed, or None where the driver cannot count an executemany (asyncpg)."""
    if not settlements:
        return 0
    result = await session.execute(
        _SETTLE,
        [
            {
                "delivery_id": s.delivery_id,
                "round_claim_id": claim_id,
                "new_status": s.status,
                "new_claim_id": s.claim_id,
                "new_next_attempt_at": s.next_attempt_at,
                "new_last_error": s.last_error,
                "new_provider_message_id": s.provider_message_id,
                "new_sent_at": s.sent_at,
                "new_updated_at": s.updated_at,
                "attempts_refund": s.attempts_refund,
            }
            for s in settlements
        ],
    )
    cursor = cast(sa.CursorResult[Any], result)
    return int(cursor.rowcount) if cursor.supports_sane_multi_rowcount() else None


async def notifications_by_id(
    session: AsyncSession, ids: set[uuid.UUID]
) -> dict[uuid.UUID, NotificationRow]:
    if not ids:
        return {}
    query = sa.select(NotificationRow).where(NotificationRow.id.in_(ids))
    return {row.id: row for row in (await session.execute(query)).scalars().all()}


async def pokes_by_id(session: AsyncSession, ids: set[uuid.UUID]) -> dict[uuid.UUID, PokeRow]:
    if not ids:
        return {}
    query = sa.select(PokeRow).where(PokeRow.id.in_(ids))
    return {row.id: row for row in (await session.execute(query)).scalars().all()}


async def find_poke(session: AsyncSession, owner_id: str, idempotency_key: str) -> PokeRow | None:
    query = sa.select(PokeRow).where(
        PokeRow.owner_id == owner_id, PokeRow.idempotency_key == idempotency_key
    )
    return (await session.execute(query)).scalar_one_or_none()


async def devices_by_id(session: AsyncSession, ids: set[uuid.UUID]) -> dict[uuid.UUID, DeviceRow]:
    if not ids:
        return {}
    query = sa.select(DeviceRow).where(DeviceRow.id.in_(ids))
    return {row.id: row for row in (await session.execute(query)).scalars().all()}


async def device_tokens(
    session: AsyncSession, ids: set[uuid.UUID]
) -> dict[uuid.UUID, tuple[str, str]]:
    """(platform, token) of each device in `ids` that still exists."""
    if not ids:
        return {}
    devices = _DEVICES
    query = sa.select(devices.c.id, devices.c.platform, devices.c.token).where(
        devices.c.id.in_(ids)
    )
    return {pk: (platform, token) for pk, platform, token in (await session.execute(query)).all()}


async def next_due_at(
    session: AsyncSession, skip_platforms: Collection[str] = ()
) -> datetime | None:
    """When the earliest pending delivery (not to `skip_platforms`) becomes due (None: none)."""
    query = sa.select(sa.func.min(DeliveryRow.next_attempt_at)).where(
        DeliveryRow.status == "pending"
    )
    if skip_platforms:
        query = query.where(DeliveryRow.platform.not_in(skip_platforms))
    value: datetime | None = (await session.execute(query)).scalar_one_or_none()
    return value


async def broadcasts_by_id(
    session: AsyncSession, ids: set[uuid.UUID]
) -> dict[uuid.UUID, BroadcastRow]:
    if not ids:
        return {}
    query = sa.select(BroadcastRow).where(BroadcastRow.id.in_(ids))
    return {row.id: row for row in (await session.execute(query)).scalars().all()}


async def devices_named(
    session: AsyncSession, owner_id: str, device_ids: Sequence[str]
) -> list[DeviceRow]:
    query = sa.select(DeviceRow).where(
        DeviceRow.owner_id == owner_id, DeviceRow.device_id.in_(set(device_ids))
    )
    return list((await session.execute(query)).scalars().all())


async def get_preferences(session: AsyncSession, owner_id: str) -> PreferencesRow | None:
    return await session.get(PreferencesRow, owner_id)


async def preferences_of(session: AsyncSession, owner_ids: set[str]) -> dict[str, PreferencesRow]:
    if not owner_ids:
        return {}
    query = sa.select(PreferencesRow).where(PreferencesRow.owner_id.in_(owner_ids))
    return {row.owner_id: row for row in (await session.execute(query)).scalars().all()}


async def owners_with_deliveries(
    session: AsyncSession, content_id: uuid.UUID, owner_ids: set[str]
) -> set[str]:
    """Which of `owner_ids` already have a delivery of `content_id` queued."""
    if not owner_ids:
        return set()
    query = (
        sa.select(DeliveryRow.owner_id)
        .where(DeliveryRow.notification_id == content_id, DeliveryRow.owner_id.in_(owner_ids))
        .distinct()
    )
    return set((await session.execute(query)).scalars().all())


async def bump_push_count(session: AsyncSession, owner_id: str, hour: datetime) -> int:
    """Count one more push in `hour` for `owner_id`; the count including it."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    upsert = insert(PushCountRow).values(owner_id=owner_id, hour=hour, count=1)
    stmt = upsert.on_conflict_do_update(
        index_elements=[PushCountRow.owner_id, PushCountRow.hour],
        set_={"count": PushCountRow.count + 1},
    ).returning(PushCountRow.count)
    return int((await session.execute(stmt)).scalar_one())


async def get_subscription(
    session: AsyncSession, topic: str, device_pk: uuid.UUID
) -> TopicSubscriptionRow | None:
    query = sa.select(TopicSubscriptionRow).where(
        TopicSubscriptionRow.topic == topic, TopicSubscriptionRow.device_pk == device_pk
    )
    return (await session.execute(query)).scalar_one_or_none()


async def count_subscriptions(session: AsyncSession, device_pk: uuid.UUID) -> int:
    query = (
        sa.select(sa.func.count())
        .select_from(TopicSubscriptionRow)
        .where(TopicSubscriptionRow.device_pk == device_pk)
    )
    return int((await session.execute(query)).scalar_one())


class Subscriber(NamedTuple):
    """What fan-out needs of a subscribed device."""

    id: uuid.UUID
    owner_id: str
    platform: str


async def subscribers_after(
    session: AsyncSession, topic: str, after: uuid.UUID | None, limit: int
) -> list[Subscriber]:
    """The next `limit` devices subscribed to `topic`, in device_pk order after `after`."""
    devices, subscriptions = _DEVICES, _SUBSCRIPTIONS
    query = (
        sa.select(devices.c.id, devices.c.owner_id, devices.c.platform)
        .join(subscriptions, subscriptions.c.device_pk == devices.c.id)
        .where(subscriptions.c.topic == topic)
        .order_by(subscriptions.c.device_pk)
        .limit(limit)
    )
    if after is not None:
        query = query.where(subscriptions.c.device_pk > after)
    return [Subscriber(*row) for row in (await session.execute(query)).all()]


async def claim_broadcast(
    session: AsyncSession, now: datetime, lease_until: datetime
) -> BroadcastRow | None:
    """Lease one broadcast still fanning out whose lease ran out (or never began)."""
    query = (
        sa.select(BroadcastRow)
        .where(BroadcastRow.status == "fanning_out", BroadcastRow.lease_until <= now)
        .order_by(BroadcastRow.created_at)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    row = (await session.execute(query)).scalar_one_or_none()
    if row is not None:
        row.lease_until = lease_until
    return row


async def lock_broadcast(session: AsyncSession, broadcast_id: uuid.UUID) -> BroadcastRow | None:
    query = sa.select(BroadcastRow).where(BroadcastRow.id == broadcast_id).with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def next_broadcast_due_at(session: AsyncSession) -> datetime | None:
    query = sa.select(sa.func.min(BroadcastRow.lease_until)).where(
        BroadcastRow.status == "fanning_out"
    )
    value: datetime | None = (await session.execute(query)).scalar_one_or_none()
    return value


async def find_broadcast(
    session: AsyncSession, topic: str, idempotency_key: str
) -> BroadcastRow | None:
    query = sa.select(BroadcastRow).where(
        BroadcastRow.topic == topic, BroadcastRow.idempotency_key == idempotency_key
    )
    return (await session.execute(query)).scalar_one_or_none()


_INBOX_COLUMNS = (
    NotificationRow.id,
    NotificationRow.category,
    NotificationRow.title,
    NotificationRow.body,
    NotificationRow.data,
    NotificationRow.created_at,
    NotificationRow.read_at,
)
_OWNED = NotificationRow.owner_id == sa.bindparam("owner_id")
_UNREAD = NotificationRow.read_at.is_(None)
UNREAD_KEY = "unread_count"
# How many of the owner's notifications are unread, with the owner's version.
UNREAD_COUNT = (
    sa.select(sa.func.count().label(UNREAD_KEY), VERSIONS.column)
    .select_from(NotificationRow)
    .where(_OWNED, _UNREAD)
)


def _inbox(unread: bool, count_unread: bool) -> NewestFirst:
    columns: list[Any] = [*_INBOX_COLUMNS, VERSIONS.column]
    if count_unread:
        columns.append(
            UNREAD_COUNT.with_only_columns(sa.func.count()).scalar_subquery().label(UNREAD_KEY)
        )
    where = [_OWNED, _UNREAD] if unread else [_OWNED]
    return NewestFirst.of(
        sa.select(*columns).where(*where), NotificationRow.created_at, NotificationRow.id
    )


# The owner's inbox for a list (plain rows, with the version): all of it or its unread
# entries, with the unread count or not; by (unread, count_unread).
INBOXES = {
    (unread, count_unread): _inbox(unread, count_unread)
    for unread in (False, True)
    for count_unread in (False, True)
}


async def unread_count(session: AsyncSession, owner_id: str) -> int:
    query = (
        sa.select(sa.func.count())
        .select_from(NotificationRow)
        .where(NotificationRow.owner_id == owner_id, NotificationRow.read_at.is_(None))
    )
    return int((await session.execute(query)).scalar_one())


async def mark_read(
    session: AsyncSession, owner_id: str, ids: Sequence[uuid.UUID] | None, now: datetime
) -> list[NotificationRow]:
    """Mark the owner's unread notifications (those in `ids`, or all) read; the rows changed,
    as they were before (their `read_at` still None)."""
    query = sa.select(NotificationRow).where(
        NotificationRow.owner_id == owner_id, NotificationRow.read_at.is_(None)
    )
    if ids is not None:
        query = query.where(NotificationRow.id.in_(set(ids)))
    changed = list((await session.execute(query)).scalars().all())
    for start in range(0, len(changed), 500):
        chunk = [row.id for row in changed[start : start + 500]]
        await session.execute(
            sa.update(NotificationRow)
            .where(NotificationRow.id.in_(chunk), NotificationRow.read_at.is_(None))
            .values(read_at=now)
        )
    return changed


async def count_topic_devices(session: AsyncSession, topic: str, limit: int) -> int:
    """How many devices follow `topic`, counting no further than `limit` (its index's range)."""
    capped = (
        sa.select(TopicSubscriptionRow.device_pk)
        .where(TopicSubscriptionRow.topic == topic)
        .limit(limit)
        .subquery()
    )
    return int((await session.execute(sa.select(sa.func.count()).select_from(capped))).scalar_one())


async def dead_deliveries(
    session: AsyncSession, status: str, after: Position | None, limit: int
) -> list[DeliveryRow]:
    """Deliveries settled as `status`, newest first: a settled row's next_attempt_at is when
    it settled, so (status, next_attempt_at) walks ix_deliveries_due; `limit` + 1 rows."""
    query = sa.select(DeliveryRow).where(DeliveryRow.status == status)
    query = newest_first(query, DeliveryRow.next_attempt_at, DeliveryRow.id, after, limit)
    return list((await session.execute(query)).scalars().all())
