"""Push delivery counters, registered in the app's own Prometheus registry."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

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

        self.send_seconds = Histogram(
            "tern_push_send_seconds",
            "Time a provider took to answer one push",
            ("platform",),
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=registry,
        )
        self._by_outcome = {
            Outcome.SENT: self.sent,
            Outcome.FAILED: self.failed,
            Outcome.INVALID_TOKEN: self.invalid_token,
            Outcome.RETRY: self.retried,
        }
        # Labelled children, looked up once: `labels()` costs a few microseconds a push
        # (lock, label validation). Platforms and provider reasons are few.
        self._counters: dict[tuple[Outcome, str, str], Any] = {}
        self._timers: dict[str, Any] = {}

    def count(self, platform: str, outcome: Outcome, reason: str) -> None:
        key = (outcome, platform, reason)
        child = self._counters.get(key)
        if child is None:
            child = self._counters[key] = self._by_outcome[outcome].labels(platform, reason)
        child.inc()

    def observe_send(self, platform: str, seconds: float) -> None:
        """One provider answer took `seconds`."""
        child = self._timers.get(platform)
        if child is None:
            child = self._timers[platform] = self.send_seconds.labels(platform)
        child.observe(seconds)
