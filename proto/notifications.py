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


class Notification(Contract):
    """One entry of a user's inbox."""

    id: UUID
    category: str
    title: str | None = None
    body: str | None = None
    data: dict[str, str]
    created_at: datetime
    read_at: datetime | None = None
