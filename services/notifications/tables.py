"""Tables of the notifications service: devices, the inbox, pokes, and the delivery outbox."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.kit.change_feed import FeedTables
from services.kit.change_versions import OwnerVersions, counter_table
from services.kit.database import UtcDateTime


class Base(DeclarativeBase):
    metadata = MetaData()


metadata = Base.metadata


# A mixin's columns come after the table's own: the columns the migrations put after the push
# columns say so (`sort_order=_AFTER_PUSH`), and `create_all` keeps the migrations' order.
_AFTER_PUSH = 1


class PushColumns:
    """What a push says: the same columns on an inbox entry and on a broadcast."""

    kind: Mapped[str] = mapped_column(sa.String(16))
    category: Mapped[str] = mapped_column(sa.String(64))
    title: Mapped[str | None] = mapped_column(sa.String(200))
    body: Mapped[str | None] = mapped_column(sa.String(1000))
    data: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    collapse_key: Mapped[str | None] = mapped_column(sa.String(64))
    priority: Mapped[str] = mapped_column(sa.String(8))
    ttl_s: Mapped[int] = mapped_column(sa.Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)


class DeviceRow(Base):
    """A user's device and its current push token (one device, one token)."""

    __tablename__ = "devices"
    __table_args__ = (
        sa.UniqueConstraint("owner_id", "device_id", name="uq_devices_owner_device"),
        sa.UniqueConstraint("token_hash", name="uq_devices_token_hash"),
        sa.Index("ix_devices_owner_created", "owner_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    owner_id: Mapped[str] = mapped_column(sa.String(200))
    device_id: Mapped[str] = mapped_column(sa.String(200))
    platform: Mapped[str] = mapped_column(sa.String(16))
    token: Mapped[str] = mapped_column(sa.Text)
    # Tokens can be 4 KiB: uniqueness is enforced on their SHA-256 instead.
    token_hash: Mapped[str] = mapped_column(sa.String(64))
    app_version: Mapped[str | None] = mapped_column(sa.String(32))
    locale: Mapped[str | None] = mapped_column(sa.String(35))
    timezone: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class NotificationRow(PushColumns, Base):
    """One inbox entry; what was sent to every device of its owner."""

    __tablename__ = "notifications"
    __table_args__ = (
        sa.UniqueConstraint("owner_id", "idempotency_key", name="uq_notifications_idempotency"),
        sa.Index("ix_notifications_owner_created", "owner_id", "created_at", "id"),
        sa.Index("ix_notifications_owner_read", "owner_id", "read_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    owner_id: Mapped[str] = mapped_column(sa.String(200))
    idempotency_key: Mapped[str] = mapped_column(sa.String(200))
    read_at: Mapped[datetime | None] = mapped_column(UtcDateTime, sort_order=_AFTER_PUSH)


class PokeRow(Base):
    """A silent push telling a user's devices to sync: no inbox entry, no change recorded.

    The content its deliveries send (payloads.poke_content) is fixed but for the scope; the
    row keeps it durable for the dispatcher and makes the poke idempotent per user and key.
    """

    __tablename__ = "pokes"
    __table_args__ = (
        sa.UniqueConstraint("owner_id", "idempotency_key", name="uq_pokes_idempotency"),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    owner_id: Mapped[str] = mapped_column(sa.String(200))
    idempotency_key: Mapped[str] = mapped_column(sa.String(200))
    scope: Mapped[str] = mapped_column(sa.String(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)


class DeliveryRow(Base):
    """One push of one notification to one device: the outbox the dispatcher drains."""

    __tablename__ = "deliveries"
    __table_args__ = (
        sa.Index("ix_deliveries_due", "status", "next_attempt_at"),
        sa.Index("ix_deliveries_notification", "notification_id"),
        # One push of one content to one device, whatever races or restarts happen.
        sa.UniqueConstraint("notification_id", "device_pk", name="uq_deliveries_content_device"),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    # The content pushed: a notification (source "user"), a broadcast (source "topic") or a
    # poke (source "poke").
    notification_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid)
    source: Mapped[str] = mapped_column(sa.String(16), default="user")
    device_pk: Mapped[uuid.UUID] = mapped_column(sa.Uuid)
    owner_id: Mapped[str] = mapped_column(sa.String(200))
    platform: Mapped[str] = mapped_column(sa.String(16))
    status: Mapped[str] = mapped_column(sa.String(16))
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    # When the row may next be claimed; a claim pushes it out by the lease.
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)
    claim_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    last_error: Mapped[str | None] = mapped_column(sa.String(200))
    provider_message_id: Mapped[str | None] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class TopicSubscriptionRow(Base):
    """A device subscribed to a topic; fan-out walks these in device_pk order."""

    __tablename__ = "topic_subscriptions"
    __table_args__ = (
        sa.UniqueConstraint("topic", "device_pk", name="uq_topic_subscriptions_topic_device"),
        sa.Index("ix_topic_subscriptions_owner_created", "owner_id", "created_at", "id"),
        sa.Index("ix_topic_subscriptions_device", "device_pk"),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    topic: Mapped[str] = mapped_column(sa.String(100))
    device_pk: Mapped[uuid.UUID] = mapped_column(sa.Uuid)
    owner_id: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class BroadcastRow(PushColumns, Base):
    """A push to a topic, fanned out into deliveries a page at a time (resumable)."""

    __tablename__ = "broadcasts"
    __table_args__ = (
        sa.UniqueConstraint("topic", "idempotency_key", name="uq_broadcasts_idempotency"),
        sa.Index("ix_broadcasts_status_lease", "status", "lease_until"),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    topic: Mapped[str] = mapped_column(sa.String(100))
    idempotency_key: Mapped[str] = mapped_column(sa.String(200))
    status: Mapped[str] = mapped_column(sa.String(16), sort_order=_AFTER_PUSH)
    # The last subscription device_pk already turned into deliveries (None: none yet).
    fanned_out_to: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, sort_order=_AFTER_PUSH)
    deliveries: Mapped[int] = mapped_column(sa.Integer, default=0, sort_order=_AFTER_PUSH)
    lease_until: Mapped[datetime] = mapped_column(UtcDateTime, sort_order=_AFTER_PUSH)


class PreferencesRow(Base):
    """A user's push preferences."""

    __tablename__ = "preferences"

    owner_id: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    timezone: Mapped[str] = mapped_column(sa.String(64))
    quiet_start: Mapped[str | None] = mapped_column(sa.String(5))
    quiet_end: Mapped[str | None] = mapped_column(sa.String(5))
    muted_categories: Mapped[list[str]] = mapped_column(sa.JSON)
    hourly_cap: Mapped[int | None] = mapped_column(sa.Integer)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class PushCountRow(Base):
    """Pushes counted against a user's hourly cap, per UTC hour."""

    __tablename__ = "push_counts"

    owner_id: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    hour: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    count: Mapped[int] = mapped_column(sa.Integer)


class ChangeCounterRow(Base):
    """The last change sequence number of a user; its row lock orders the user's writers.
    The kit's `change_counters` table, mapped here for the version reads."""

    __table__ = counter_table(Base.metadata)

    owner_id: Mapped[str]
    last_seq: Mapped[int]


# The owner's change version: the last sequence number of their feed.
VERSIONS = OwnerVersions.of(ChangeCounterRow.last_seq, ChangeCounterRow.owner_id)  # type: ignore[arg-type]
# The kit's change feed (services/notifications/changes.py).
FEED = FeedTables.on(Base.metadata)
