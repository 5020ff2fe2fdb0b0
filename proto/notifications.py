"""Contract of the notifications service (internal REST, under /internal/v1)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import Field

from proto.common import Contract

Platform = Literal["ios", "android"]
PushKind = Literal["display", "silent", "data"]
Priority = Literal["high", "normal"]
DeliveryStatus = Literal["pending", "sent", "failed", "invalid_token"]


class DeviceRegister(Contract):
    """PUT /internal/v1/devices/{device_id}: register or update the push token of a device."""

    token: str = Field(min_length=8, max_length=4096)
    platform: Platform
    app_version: str | None = Field(default=None, max_length=32)
    locale: str | None = Field(default=None, max_length=35)
    timezone: str | None = Field(default=None, max_length=64)


class Device(Contract):
    device_id: str
    platform: Platform
    app_version: str | None = None
    locale: str | None = None
    timezone: str | None = None
    created_at: datetime
    updated_at: datetime


class SendToUser(Contract):
    """POST /internal/v1/send: push to the acting user's devices (and keep it in their inbox).

    Carries no sensitive content: a title, and ids in `data` that the app fetches with.
    """

    kind: PushKind = "display"
    category: str = Field(default="general", min_length=1, max_length=64)
    title: str | None = Field(default=None, max_length=200)
    body: str | None = Field(default=None, max_length=1000)
    data: dict[str, str] = Field(default_factory=dict, max_length=50)
    collapse_key: str | None = Field(default=None, max_length=64)
    ttl_s: int = Field(default=86_400, ge=0, le=2_419_200)
    priority: Priority = "high"
    idempotency_key: str = Field(min_length=1, max_length=200)


class SendResult(Contract):
    notification_id: UUID
    deliveries: int
    duplicate: bool = False
    # Why no push went out (the inbox entry is kept): CATEGORY_MUTED or HOURLY_CAP.
    suppressed: str | None = None
    # Display pushes in the user's quiet hours wait until this moment.
    deferred_until: datetime | None = None


# GET /internal/v1/notifications?count_unread=true answers the unread count in this header.
UNREAD_COUNT_HEADER = "x-unread-count"


class Notification(Contract):
    """One entry of a user's inbox.

    GET /internal/v1/notifications?cursor=&limit=&unread=: the inbox newest first, a page at
    a time; with `unread=true` only the entries not read yet (`read_at` null), and the cursor
    of such a page pages on through unread ones. With `count_unread=true` the answer's
    `X-Unread-Count` header says how many are unread (one call for an inbox badge and list).
    """

    id: UUID
    category: str
    title: str | None = None
    body: str | None = None
    data: dict[str, str]
    created_at: datetime
    read_at: datetime | None = None


class SendToDevices(SendToUser):
    """POST /internal/v1/send/devices: push to some of the acting user's devices only."""

    device_ids: list[str] = Field(min_length=1, max_length=20)


class TopicSubscription(Contract):
    """A device of the acting user subscribed to a topic."""

    topic: str
    device_id: str
    created_at: datetime


class Broadcast(Contract):
    """POST /internal/v1/topics/{topic}/broadcasts: push to every device subscribed to a topic.

    No inbox entries are made; the app fetches what the ids in `data` name.
    """

    kind: PushKind = "display"
    category: str = Field(default="general", min_length=1, max_length=64)
    title: str | None = Field(default=None, max_length=200)
    body: str | None = Field(default=None, max_length=1000)
    data: dict[str, str] = Field(default_factory=dict, max_length=50)
    collapse_key: str | None = Field(default=None, max_length=64)
    ttl_s: int = Field(default=86_400, ge=0, le=2_419_200)
    priority: Priority = "high"
    idempotency_key: str = Field(min_length=1, max_length=200)


BroadcastStatus = Literal["fanning_out", "done"]


class BroadcastResult(Contract):
    broadcast_id: UUID
    topic: str
    status: BroadcastStatus
    deliveries: int
    duplicate: bool = False


class QuietHours(Contract):
    """Display pushes inside [start, end) local time wait until `end`; may wrap midnight."""

    start: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    end: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")


class Preferences(Contract):
    """PUT/GET /internal/v1/preferences: the acting user's push preferences."""

    timezone: str = Field(default="UTC", max_length=64)
    quiet_hours: QuietHours | None = None
    muted_categories: list[str] = Field(default_factory=list, max_length=50)
    hourly_cap: int | None = Field(default=None, ge=1, le=1000)


class MarkRead(Contract):
    """POST /internal/v1/notifications/read: mark some (`ids`) or all (`all`) as read."""

    ids: list[UUID] = Field(default_factory=list, max_length=200)
    all: bool = False


class ReadResult(Contract):
    updated: int
    unread: int


class UnreadCount(Contract):
    unread: int


class Poke(Contract):
    """POST /internal/v1/pokes: one silent push to the acting user's devices so they sync.

    Carries no user data: the scope alone, as data {"tern": scope} and collapse key
    "tern-<scope>". Kept out of the inbox and the change feed; expires in minutes.
    """

    # The device that made the change: every other device of the user is poked.
    except_device: str | None = Field(default=None, max_length=128)
    # What to sync; the collapse key is "tern-<scope>".
    scope: str = Field(default="sync", pattern=r"^[a-z][a-z0-9_-]{0,31}$")
    idempotency_key: str = Field(min_length=1, max_length=200)


class PokeResult(Contract):
    deliveries: int
    duplicate: bool = False


# Kinds of this service's entries in its change feed (GET /internal/v1/feed); a topic
# subscription's id is "<device id>/<topic>", the preferences' the owner's.
FEED_NOTIFICATION = "notification"
FEED_DEVICE = "device"
FEED_TOPIC_SUBSCRIPTION = "topic_subscription"
FEED_PUSH_PREFERENCES = "push_preferences"


# --- operator reads (the BFF's admin API; only the BFF may call them) ----------------------

# The most a count answers exactly: past it, `at_least` is true (a count never scans all).
MAX_COUNT = 100_000
DeadStatus = Literal["failed", "invalid_token"]


class TopicAudience(Contract):
    """GET /internal/v1/topics/{topic}/audience: how many devices a broadcast to the topic
    would reach now (a broadcast's dry run); counted up to MAX_COUNT."""

    topic: str
    devices: int
    at_least: bool = False


class DeadDelivery(Contract):
    """A push that will not be retried: the provider refused it (`failed`, after its
    attempts) or called the device's token dead (`invalid_token`; the device is forgotten).

    GET /internal/v1/deliveries/dead?status=&cursor=&limit=: newest first, one status at a time.
    """

    id: UUID
    source: str = Field(description="user (a notification), topic (a broadcast) or poke")
    content_id: UUID = Field(description="the notification, broadcast or poke pushed")
    owner_id: str
    platform: str
    status: DeadStatus
    attempts: int
    last_error: str | None = None
    created_at: datetime
    failed_at: datetime
