"""What a provider is asked to send and what it answers, independent of FCM or APNs."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Generic, Protocol, TypeVar

from services.kit.clock import utc_now


@dataclass(frozen=True, slots=True)
class PushContent:
    """What one notification says, the same for every device it goes to."""

    notification_id: uuid.UUID
    kind: str
    category: str
    title: str | None
    body: str | None
    data: dict[str, str]
    collapse_key: str | None
    priority: str
    ttl_s: int
    expires_at: datetime
    # The data carries the notification id and category too (a poke's carries its scope only).
    labelled: bool = True


@dataclass(frozen=True, slots=True)
class PushMessage:
    """One delivery: the content, to one device token."""

    delivery_id: uuid.UUID
    token: str
    content: PushContent


class Outcome(StrEnum):
    SENT = "sent"
    RETRY = "retry"
    INVALID_TOKEN = "invalid_token"  # noqa: S105 - an outcome, not a secret
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class PushResult:
    """A provider's answer, classified; `reason` is the provider's own code."""

    outcome: Outcome
    reason: str
    retry_after_s: float | None = None
    provider_message_id: str | None = None


class PushSender(Protocol):
    """One push provider (FCM or APNs) behind one interface."""

    platform: str

    async def send(self, message: PushMessage) -> PushResult: ...

    async def warm_up(self) -> None:
        """Get credentials ready before the first push needs them (off its path)."""

    async def aclose(self) -> None: ...


T = TypeVar("T")


class PerNotification(Generic[T]):
    """What a sender builds once per notification and reuses for each of its devices (the
    body, the headers): kept for the latest few notifications (a round sends a few), built
    again for a content it has not seen."""

    def __init__(self, build: Callable[[PushContent], T], kept: int = 256) -> None:
        self._build = build
        self._kept_max = kept
        self._kept: dict[uuid.UUID, tuple[PushContent, T]] = {}

    def __call__(self, content: PushContent) -> T:
        entry = self._kept.get(content.notification_id)
        if entry is None or entry[0] is not content:
            if len(self._kept) >= self._kept_max:
                self._kept.clear()
            entry = self._kept[content.notification_id] = (content, self._build(content))
        return entry[1]


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or utc_now())).total_seconds())
