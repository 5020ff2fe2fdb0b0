"""Topic fan-out: a broadcast becomes deliveries one page of subscribers per transaction.

Each page's deliveries and the broadcast's cursor commit together, so a crash anywhere resumes
from the last committed page: nothing is lost and (with the unique (content, device) key on
deliveries) nothing is queued twice. Only one page of subscribers is ever in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from services.kit.clock import Clock, utc_now
from services.kit.database import Database
from services.kit.structured_logging import get_logger
from services.notifications import policy, repository
from services.notifications.settings import NotificationsSettings
from services.notifications.tables import BroadcastRow

_log = get_logger(__name__)


class FanOut:
    """Drains broadcasts still fanning out; safe to run in several replicas (leases)."""

    def __init__(
        self,
        db: Database,
        settings: NotificationsSettings,
        on_page: Callable[[], None] = lambda: None,
        clock: Clock = utc_now,
    ) -> None:
        self._db = db
        self._settings = settings
        self._on_page = on_page
        self._clock = clock
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Look for broadcasts now instead of at the next poll."""
        self._wake.set()

    async def run_forever(self) -> None:
        """Fan out until cancelled."""
        while True:
            self._wake.clear()
            try:
                while await self.fan_out_one():
                    pass
                delay = await self._seconds_until_next()
            except Exception:
                _log.exception("fanout_round_failed")
                delay = self._settings.fanout_poll_s
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()

    async def fan_out_one(self) -> bool:
        """Claim one broadcast and fan it out to the end; False when none was waiting."""
        now = self._clock()
        async with self._db.transaction() as session:
            claimed = await repository.claim_broadcast(session, now, self._lease_until(now))
            broadcast_id = claimed.id if claimed else None
        if broadcast_id is None:
            return False
        while await self.fan_out_page(broadcast_id):
            self._on_page()
        self._on_page()
        return True

    async def fan_out_page(self, broadcast_id: uuid.UUID) -> bool:
        """Queue the next page of subscribers; True while more pages remain."""
        now = self._clock()
        async with self._db.transaction() as session:
            row = await repository.lock_broadcast(session, broadcast_id)
            if row is None or row.status != "fanning_out":
                return False
            devices = await repository.subscribers_after(
                session, row.topic, row.fanned_out_to, self._settings.fanout_page_size
            )
            queued = await self._queue(session, row, devices, now)
            row.deliveries += queued
            row.lease_until = self._lease_until(now)
            if devices:
                row.fanned_out_to = devices[-1].id
            if len(devices) < self._settings.fanout_page_size:
                row.status = "done"
                _log.info(
                    "broadcast_fanned_out", broadcast_id=str(row.id), deliveries=row.deliveries
                )
                return False
        return True

    async def _queue(
        self,
        session: AsyncSession,
        row: BroadcastRow,
        devices: list[repository.Subscriber],
        now: datetime,
    ) -> int:
        owners = {d.owner_id for d in devices}
        prefs = await repository.preferences_of(session, owners)
        policies = {owner: policy.policy_of(prefs.get(owner)) for owner in owners}
        capped = {o for o, p in policies.items() if policy.counts_against_cap(p, row.kind)}
        # A capped user already reached on an earlier page was counted then: the cap counts
        # one push per user and broadcast, however many devices the user has.
        counted = await repository.owners_with_deliveries(session, row.id, capped)
        # Sorted: concurrent pages bump the users' counter rows in one order (no deadlock).
        decisions = {
            owner: await _admit(session, row, owner, policies[owner], owner in counted, now)
            for owner in sorted(owners)
        }
        # The devices admitted, by when they are due (now, or when quiet hours end).
        due: dict[datetime, list[uuid.UUID]] = {}
        for device in devices:
            decision = decisions[device.owner_id]
            if decision.suppressed is None:
                due.setdefault(decision.not_before or now, []).append(device.id)
        queued = 0
        for at, device_pks in due.items():
            queued += await repository.queue_topic_deliveries(session, row.id, device_pks, at, now)
        return queued

    async def _seconds_until_next(self) -> float:
        async with self._db.session() as session:
            due = await repository.next_broadcast_due_at(session)
        poll = self._settings.fanout_poll_s
        if due is None:
            return poll
        return min(poll, max(0.0, (due - self._clock()).total_seconds()))

    def _lease_until(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self._settings.fanout_lease_s)


async def _admit(
    session: AsyncSession,
    row: BroadcastRow,
    owner_id: str,
    user_policy: policy.UserPolicy,
    counted: bool,
    now: datetime,
) -> policy.Decision:
    """What the user's preferences make of this broadcast; counts it against the cap once."""
    decision = policy.decide(user_policy, row.kind, row.category, now)
    if counted or decision.suppressed is not None:
        return decision
    if policy.counts_against_cap(user_policy, row.kind):
        count = await repository.bump_push_count(session, owner_id, policy.hour_of(now))
        if user_policy.hourly_cap is not None and count > user_policy.hourly_cap:
            return policy.Decision(suppressed=policy.HOURLY_CAP)
    return decision
