"""The outbox dispatcher: claims due deliveries, sends them, records what the provider said."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from services.kit.database import Database
from services.kit.structured_logging import get_logger
from services.notifications import changes, repository
from services.notifications.metrics import PushMetrics
from services.notifications.push_types import (
    Outcome,
    PushContent,
    PushMessage,
    PushResult,
    PushSender,
)
from services.notifications.settings import NotificationsSettings
from services.notifications.tables import BroadcastRow, DeliveryRow, NotificationRow

_log = get_logger(__name__)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class _Claimed:
    delivery_id: uuid.UUID
    device_pk: uuid.UUID
    platform: str
    attempts: int
    message: PushMessage | None  # None: nothing to send (device gone, expired, no provider)
    skip_reason: str = ""


class Dispatcher:
    """Drains the deliveries outbox; one per process, safe to run in several replicas."""

    def __init__(
        self,
        db: Database,
        senders: Mapping[str, PushSender],
        settings: NotificationsSettings,
        metrics: PushMetrics,
        clock: Clock = utc_now,
    ) -> None:
        self._db = db
        self._senders = senders
        self._settings = settings
        self._metrics = metrics
        self._clock = clock
        self._wake = asyncio.Event()
        self._limit = asyncio.Semaphore(settings.dispatch_concurrency)

    def wake(self) -> None:
        """Look for due deliveries now instead of at the next poll."""
        self._wake.set()

    async def run_forever(self) -> None:
        """Dispatch until cancelled: on every wake-up, and at least every poll interval."""
        while True:
            self._wake.clear()
            try:
                handled = await self.dispatch_due()
                if handled >= self._settings.dispatch_batch_size:
                    continue  # more may be waiting
                delay = await self._seconds_until_next_due()
            except Exception:
                _log.exception("dispatch_round_failed")
                delay = self._settings.dispatch_poll_s
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
            # that races with the wake-up, and shutdown would then wait forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()

    async def dispatch_due(self) -> int:
        """Send every delivery that is due now (one batch); how many were claimed."""
        claim_id, claimed = await self._claim()
        results = await asyncio.gather(*(self._send(item) for item in claimed))
        await self._record_all(claim_id, list(zip(claimed, results, strict=True)))
        return len(claimed)

    async def _seconds_until_next_due(self) -> float:
        async with self._db.session() as session:
            due = await repository.next_due_at(session)
        poll = self._settings.dispatch_poll_s
        if due is None:
            return poll
        return min(poll, max(0.0, (due - self._clock()).total_seconds()))

    async def _claim(self) -> tuple[uuid.UUID, list[_Claimed]]:
        now = self._clock()
        lease_until = now + timedelta(seconds=self._settings.dispatch_lease_s)
        async with self._db.transaction() as session:
            claim_id, rows = await repository.claim_due_deliveries(
                session, now, lease_until, self._settings.dispatch_batch_size
            )
            notifications: dict[uuid.UUID, NotificationRow | BroadcastRow] = {}
            notifications.update(
                await repository.notifications_by_id(
                    session, {row.notification_id for row in rows if row.source != "topic"}
                )
            )
            notifications.update(
                await repository.broadcasts_by_id(
                    session, {row.notification_id for row in rows if row.source == "topic"}
                )
            )
            devices = await repository.devices_by_id(session, {row.device_pk for row in rows})
        claimed = []
        for row in rows:
            notification = notifications.get(row.notification_id)
            device = devices.get(row.device_pk)
            skip = ""
            if notification is None or device is None or device.platform != row.platform:
                skip = "DEVICE_GONE"
            elif row.attempts > 1 and now > notification.expires_at:
                skip = "EXPIRED"
            elif row.platform not in self._senders:
                skip = "PROVIDER_DISABLED"
            message = None
            if not skip and notification is not None and device is not None:
                message = PushMessage(row.id, device.token, _content(notification))
            claimed.append(
                _Claimed(row.id, row.device_pk, row.platform, row.attempts, message, skip)
            )
        return claim_id, claimed

    async def _deliver(self, claim_id: uuid.UUID, item: _Claimed) -> None:
        """Send one claimed delivery and record what the provider said."""
        await self._record_all(claim_id, [(item, await self._send(item))])

    async def _send(self, item: _Claimed) -> PushResult:
        if item.message is None:
            return PushResult(Outcome.FAILED, item.skip_reason)
        async with self._limit:
            started = time.perf_counter()
            result = await self._senders[item.platform].send(item.message)
            self._metrics.send_seconds.labels(item.platform).observe(time.perf_counter() - started)
            return result

    async def _record_all(
        self, claim_id: uuid.UUID, outcomes: list[tuple[_Claimed, PushResult]]
    ) -> None:
        """Record a batch's answers in one transaction (one commit, not one per push)."""
        if not outcomes:
            return
        try:
            async with self._db.transaction() as session:
                rows = await repository.deliveries_by_id(
                    session, {item.delivery_id for item, _ in outcomes}
                )
                counted = [
                    await self._record(session, rows.get(item.delivery_id), claim_id, item, result)
                    for item, result in outcomes
                ]
        except Exception:
            _log.exception("delivery_record_failed", deliveries=len(outcomes))
            return
        for item, outcome, reason in (c for c in counted if c is not None):
            self._metrics.count(item.platform, outcome, reason)

    async def _record(
        self,
        session: AsyncSession,
        row: DeliveryRow | None,
        claim_id: uuid.UUID,
        item: _Claimed,
        result: PushResult,
    ) -> tuple[_Claimed, Outcome, str] | None:
        now = self._clock()
        outcome = result.outcome
        if row is None or row.claim_id != claim_id or row.status != "pending":
            return None  # our lease ran out and another round owns it now
        if outcome is Outcome.RETRY and row.attempts >= self._settings.max_delivery_attempts:
            outcome = Outcome.FAILED
        row.updated_at = now
        row.last_error = None if outcome is Outcome.SENT else result.reason[:200]
        if outcome is Outcome.SENT:
            row.status, row.sent_at = "sent", now
            row.provider_message_id = result.provider_message_id
        elif outcome is Outcome.RETRY:
            row.claim_id = None
            row.next_attempt_at = now + timedelta(
                seconds=self._retry_delay(row.attempts, result.retry_after_s)
            )
        elif outcome is Outcome.INVALID_TOKEN:
            row.status = "invalid_token"
            assert item.message is not None
            device = await repository.delete_device_if_token(
                session, item.device_pk, item.message.token
            )
            if device is not None:
                await changes.record(
                    session, device.owner_id, "device", [device.device_id], "delete", now
                )
        else:
            row.status = "failed"
        if outcome is not Outcome.SENT:
            _log.info(
                "push_delivery",
                delivery_id=str(item.delivery_id),
                platform=item.platform,
                outcome=str(outcome),
                reason=result.reason,
                attempt=item.attempts,
            )
        return item, outcome, result.reason

    def _retry_delay(self, attempts: int, retry_after_s: float | None) -> float:
        """Exponential backoff with jitter, never sooner than the provider's Retry-After."""
        ceiling = min(self._settings.retry_max_s, self._settings.retry_base_s * 2 ** (attempts - 1))
        backoff = random.uniform(ceiling / 2, ceiling)
        return max(backoff, retry_after_s or 0.0)


def _content(notification: NotificationRow | BroadcastRow) -> PushContent:
    return PushContent(
        notification_id=notification.id,
        kind=notification.kind,
        category=notification.category,
        title=notification.title,
        body=notification.body,
        data={str(k): str(v) for k, v in notification.data.items()},
        collapse_key=notification.collapse_key,
        priority=notification.priority,
        ttl_s=notification.ttl_s,
        expires_at=notification.expires_at,
    )
