"""Push delivery counters, registered in the app's own Prometheus registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from services.notifications.push_types import Outcome


class PushMetrics:
    """sent / failed / invalid_token / retried, by platform and provider reason."""

    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ("platform", "reason")
        self.sent = Counter(
            "tern_push_sent", "Pushes a provider accepted", labels, registry=registry
        )
        self.failed = Counter("tern_push_failed", "Pushes given up on", labels, registry=registry)
        self.invalid_token = Counter(
            "tern_push_invalid_token",
            "Pushes refused because the device token is dead (token removed)",
            labels,
            registry=registry,
        )
        self.retried = Counter(
            "tern_push_retried", "Push attempts scheduled again", labels, registry=registry
        )

    def count(self, platform: str, outcome: Outcome, reason: str) -> None:
        counter = {
            Outcome.SENT: self.sent,
            Outcome.FAILED: self.failed,
            Outcome.INVALID_TOKEN: self.invalid_token,
            Outcome.RETRY: self.retried,
        }[outcome]
        counter.labels(platform, reason).inc()
