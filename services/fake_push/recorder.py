"""What the fake provider remembers: pushes received, failures to inject, tokens it issued."""

from __future__ import annotations

import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

# Re-exported: apns.py and fcm.py stamp received pushes with it.

ProviderName = Literal["apns", "fcm"]


@dataclass(frozen=True, slots=True)
class ReceivedPush:
    """One push that reached the fake provider and was accepted."""

    platform: ProviderName
    token: str
    headers: dict[str, str]
    payload: dict[str, Any]
    http_version: str
    message_id: str
    received_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "platform": self.platform,
            "token": self.token,
            "headers": self.headers,
            "payload": self.payload,
            "http_version": self.http_version,
            "message_id": self.message_id,
            "received_at": self.received_at.isoformat(),
        }


@dataclass(slots=True)
class InjectedFailure:
    """The next `remaining` requests of one provider fail with this status and reason."""

    status: int
    reason: str
    remaining: int
    retry_after_s: int | None = None
    field: str | None = None


@dataclass
class ProviderRecorder:
    """In-memory state of one fake provider process."""

    max_recorded: int = 10_000
    access_token_ttl_s: int = 3600
    received: deque[ReceivedPush] = field(default_factory=deque)
    failures: dict[ProviderName, deque[InjectedFailure]] = field(
        default_factory=lambda: {"apns": deque(), "fcm": deque()}
    )
    # Seconds each provider waits before it answers a push (a slow or distant provider).
    latency_s: dict[ProviderName, float] = field(default_factory=lambda: {"apns": 0.0, "fcm": 0.0})
    _access_tokens: dict[str, float] = field(default_factory=dict)

    def record(self, push: ReceivedPush) -> None:
        self.received.append(push)
        while len(self.received) > self.max_recorded:
            self.received.popleft()

    def query(self, platform: str | None, token: str | None) -> list[ReceivedPush]:
        return [
            push
            for push in self.received
            if (platform is None or push.platform == platform)
            and (token is None or push.token == token)
        ]

    def clear(self) -> None:
        self.received.clear()
        for queue in self.failures.values():
            queue.clear()

    def inject(self, platform: ProviderName, failure: InjectedFailure) -> None:
        self.failures[platform].append(failure)

    def next_failure(self, platform: ProviderName) -> InjectedFailure | None:
        """The failure this request must answer with, if one is queued (uses it up)."""
        queue = self.failures[platform]
        if not queue:
            return None
        failure = queue[0]
        failure.remaining -= 1
        if failure.remaining <= 0:
            queue.popleft()
        return failure

    def issue_access_token(self) -> str:
        now = time.monotonic()
        for token, expires in list(self._access_tokens.items()):
            if expires <= now:
                del self._access_tokens[token]
        token = "ya29.fake-" + secrets.token_urlsafe(24)
        self._access_tokens[token] = now + self.access_token_ttl_s
        return token

    def access_token_valid(self, token: str) -> bool:
        expires = self._access_tokens.get(token)
        return expires is not None and expires > time.monotonic()
