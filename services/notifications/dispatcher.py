"""The outbox dispatcher: claims due deliveries, sends them, records what the provider said."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import random
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from services.kit.clock import Clock, utc_now
from services.kit.database import Database
from services.kit.structured_logging import get_logger
from services.notifications import changes, repository
from services.notifications.metrics import PushMetrics
from services.notifications.payloads import content_of, poke_content
from services.notifications.push_types import (
    Outcome,
    PushContent,
    PushMessage,
    PushResult,
    PushSender,
)
from services.notifications.settings import NotificationsSettings
from services.notifications.tables import BroadcastRow, NotificationRow

_log = get_logger(__name__)

# The reason of a claimed delivery held back because its provider paused us (never sent).
PAUSED = "PROVIDER_PAUSED"


class _NotAllOurs(Exception):
    """Some answered deliveries are no longer this round's: record them the careful way."""


@dataclass(slots=True)
class _RoundState:
    """What a round's writer and its send workers share."""

    unanswered: int  # deliveries being sent or waiting to be
    record_at: float  # loop time by which the answers waiting are to be written


@dataclass(frozen=True, slots=True)
class _Claimed:
    delivery_id: uuid.UUID
    device_pk: uuid.UUID
    platform: str
    attempts: int
    message: PushMessage | None  # None: nothing to send (device gone, expired, no provider)
    skip_reason: str = ""


# An answer as it is recorded: the delivery, the provider's reason, what the delivery
# becomes, and the outcome counted.
_Answer = tuple[_Claimed, str, repository.Settlement, Outcome]


class Dispatcher:
    """Drains the deliveries outbox; one per process, safe to run in several replicas.

    A round claims a batch, sends it, and records the answers as they arrive: a group of up
    to `dispatch_record_batch` per transaction, written once that many wait, once the first
    of them has waited `dispatch_record_delay_s`, or once nothing else of the round is
    pending. Up to `dispatch_rounds_in_flight` rounds overlap, so the providers are kept busy
    while the next one is claimed. While a round is in flight a heartbeat keeps its pending
    deliveries leased (`dispatch_lease_s`, renewed every third of it), so a slow provider
    never lets the lease run out under a live round, and a dead process's deliveries are due
    again within one lease.

    Sending is at-least-once. A delivery stays leased from its claim until its answer is
    recorded; if the process dies (or the record fails) after the provider accepted it but
    before the record commits, the lease runs out and the delivery is sent again, once more
    per such crash. That window is the send itself plus the few milliseconds an answer waits
    for its group, not the whole round. Nothing is lost that way, and the copy is harmless
    on the phone: it carries the same collapse id (payloads.collapse_id), so it replaces the
    first. Outside that window, a delivery recorded as settled is never sent again. A round
    whose lease did run out anyway (a process stalled past `dispatch_lease_s`) records
    nothing over the deliveries another round has claimed since.

    A retryable provider answer that carries Retry-After (a 429, a 503) pauses the whole
    platform until then, not just that delivery: nothing more of that platform is claimed,
    and claimed ones not yet sent go back to the outbox with their attempt given back. The
    other platform keeps full rate. The pause is per process; each replica learns its own.
    (APNs' per-token 429 TooManyRequests carries no Retry-After, so it pauses nothing.)
    """

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
        self._paused_until: dict[str, datetime] = {}  # platform -> when it may send again

    def wake(self) -> None:
        """Look for due deliveries now instead of at the next poll."""
        self._wake.set()

    async def run_forever(self) -> None:
        """Dispatch until cancelled: on every wake-up, and at least every poll interval."""
        rounds: set[asyncio.Task[None]] = set()
        try:
            while True:
                self._wake.clear()
                try:
                    # Claim only with a round slot free, however small the last claims were:
                    # claimed deliveries must not queue for a send slot until their lease ends.
                    while len(rounds) >= self._settings.dispatch_rounds_in_flight:
                        await asyncio.wait(rounds, return_when=asyncio.FIRST_COMPLETED)
                    claim_id, claimed = await self._claim()
                    if claimed:
                        task = asyncio.create_task(self._send_and_record(claim_id, claimed))
                        rounds.add(task)
                        task.add_done_callback(rounds.discard)
                    if len(claimed) >= self._settings.dispatch_batch_size:
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
        finally:
            for task in rounds:
                task.cancel()
            # Each cancelled round still records the answers it holds (a few ms' worth).
            await asyncio.gather(*rounds, return_exceptions=True)

    async def dispatch_due(self) -> int:
        """Send every delivery that is due now (one batch); how many were claimed."""
        claim_id, claimed = await self._claim()
        await self._send_and_record(claim_id, claimed)
        return len(claimed)

    async def _send_and_record(self, claim_id: uuid.UUID, claimed: list[_Claimed]) -> None:
        """Send a round, record its answers a group at a time as they come, keep it leased.

        A few workers (no more than `dispatch_concurrency`) take the round's deliveries in
        turn and put each answer on one list; this task writes the list a group at a time.
        No task per delivery and no wait over all of them: a push costs O(1) here.
        """
        if not claimed:
            return
        # The round's writes (answers, heartbeats) one at a time: two transactions of ours
        # locking the same rows in different orders would deadlock on PostgreSQL.
        writes = asyncio.Lock()
        heartbeat = asyncio.create_task(self._keep_leased(claim_id, writes))
        answered: list[tuple[_Claimed, PushResult]] = []
        # Nothing to send (device gone, expired, no provider): answered at once.
        to_send: collections.deque[_Claimed] = collections.deque()
        for item in claimed:
            if item.message is None:
                answered.append((item, PushResult(Outcome.FAILED, item.skip_reason)))
            else:
                to_send.append(item)
        loop = asyncio.get_running_loop()
        batch, delay_s = (
            self._settings.dispatch_record_batch,
            self._settings.dispatch_record_delay_s,
        )
        state = _RoundState(unanswered=len(to_send), record_at=loop.time() + delay_s)
        ready = asyncio.Event()

        async def worker() -> None:
            while to_send:
                item = to_send.popleft()
                try:
                    result = await self._send(item)
                except Exception:
                    # Unrecorded, it stays leased and is sent again after the round.
                    _log.exception("dispatch_send_failed", delivery_id=str(item.delivery_id))
                    state.unanswered -= 1
                    if state.unanswered == 0:
                        ready.set()
                    continue
                state.unanswered -= 1
                if not answered:
                    state.record_at = loop.time() + delay_s
                    ready.set()  # the writer times the group from its first answer
                answered.append((item, result))
                if len(answered) >= batch or state.unanswered == 0:
                    ready.set()

        workers = [
            asyncio.create_task(worker())
            for _ in range(min(len(to_send), self._settings.dispatch_concurrency))
        ]
        try:
            while state.unanswered or answered:
                if answered and (
                    len(answered) >= batch or not state.unanswered or loop.time() >= state.record_at
                ):
                    waiting = len(answered)
                    while waiting > 0:  # in groups of at most `batch`: short transactions
                        group = answered[: min(batch, waiting)]
                        del answered[: len(group)]
                        waiting -= len(group)
                        # Shielded: a shutdown mid-write still commits what was answered.
                        await asyncio.shield(self._record_group(claim_id, group, writes))
                    if answered:  # those answered meanwhile: a group of their own
                        state.record_at = loop.time() + delay_s
                    continue
                ready.clear()
                timeout = max(0.0, state.record_at - loop.time()) if answered else None
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout):
                        await ready.wait()
        except asyncio.CancelledError:
            # Shutting down: what the providers already answered is recorded, not resent.
            for task in workers:
                task.cancel()
            if answered:
                await asyncio.shield(self._record_group(claim_id, list(answered), writes))
            raise
        except Exception:
            # Unrecorded deliveries stay leased and are sent again when the lease ends.
            _log.exception("dispatch_round_failed", deliveries=len(claimed))
        finally:
            heartbeat.cancel()
            for task in workers:
                task.cancel()
            await asyncio.gather(heartbeat, *workers, return_exceptions=True)

    async def _record_group(
        self,
        claim_id: uuid.UUID,
        group: list[tuple[_Claimed, PushResult]],
        writes: asyncio.Lock,
    ) -> None:
        async with writes:
            await self._record_all(claim_id, group)

    async def _keep_leased(self, claim_id: uuid.UUID, writes: asyncio.Lock) -> None:
        """The round's heartbeat: every third of the lease, lease its pending deliveries for
        another `dispatch_lease_s`. Stops once none is left pending under the claim."""
        lease_s = self._settings.dispatch_lease_s
        while True:
            await asyncio.sleep(lease_s / 3)
            try:
                async with writes, self._db.transaction() as session:
                    kept = await repository.extend_lease(
                        session, claim_id, self._clock() + timedelta(seconds=lease_s)
                    )
            except Exception:
                # The next beat tries again; the lease still has two thirds left.
                _log.exception("dispatch_lease_extend_failed", claim_id=str(claim_id))
                continue
            if kept == 0:
                return

    async def _seconds_until_next_due(self) -> float:
        now = self._clock()
        paused = self._paused(now)
        async with self._db.session() as session:
            due = await repository.next_due_at(session, sorted(paused))
        # Wake when a pause ends too: what waited for it is due by then.
        moments = [*paused.values(), *([due] if due is not None else [])]
        poll = self._settings.dispatch_poll_s
        if not moments:
            return poll
        return min(poll, max(0.0, (min(moments) - now).total_seconds()))

    def _paused(self, now: datetime) -> dict[str, datetime]:
        """The platforms a provider told us to leave alone until some moment after `now`."""
        for platform, until in list(self._paused_until.items()):
            if until <= now:
                del self._paused_until[platform]
        return dict(self._paused_until)

    def _pause(self, platform: str, seconds: float) -> None:
        until = self._clock() + timedelta(seconds=seconds)
        current = self._paused_until.get(platform)
        if current is None or until > current:
            self._paused_until[platform] = until
            _log.warning("provider_paused", platform=platform, seconds=seconds)

    async def _claim(self) -> tuple[uuid.UUID, list[_Claimed]]:
        now = self._clock()
        lease_until = now + timedelta(seconds=self._settings.dispatch_lease_s)
        async with self._db.transaction() as session:
            claim_id, rows = await repository.claim_due_deliveries(
                session,
                now,
                lease_until,
                self._settings.dispatch_batch_size,
                sorted(self._paused(now)),
            )
            contents = await _contents(session, rows)
            devices = await repository.device_tokens(session, {row.device_pk for row in rows})
        claimed = []
        for row in rows:
            content = contents.get(row.notification_id)
            platform, token = devices.get(row.device_pk, ("", ""))
            skip = ""
            if content is None or platform != row.platform:
                skip = "DEVICE_GONE"
            elif row.attempts > 1 and now > content.expires_at:
                skip = "EXPIRED"
            elif row.platform not in self._senders:
                skip = "PROVIDER_DISABLED"
            message = None
            if content is not None and not skip:
                message = PushMessage(row.id, token, content)
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
            # Claimed before the provider asked us to wait, but not sent yet: send it later.
            if self._paused_until:
                until = self._paused(self._clock()).get(item.platform)
                if until is not None:
                    wait_s = (until - self._clock()).total_seconds()
                    return PushResult(Outcome.RETRY, PAUSED, retry_after_s=max(0.0, wait_s))
            started = time.perf_counter()
            result = await self._senders[item.platform].send(item.message)
            self._metrics.observe_send(item.platform, time.perf_counter() - started)
        if result.outcome is Outcome.RETRY and result.retry_after_s:
            self._pause(item.platform, result.retry_after_s)
        return result

    async def _record_all(
        self, claim_id: uuid.UUID, outcomes: list[tuple[_Claimed, PushResult]]
    ) -> None:
        """Record answers of a round in one transaction: one UPDATE run for all of them."""
        if not outcomes:
            return
        now = self._clock()
        answers = [
            (item, result.reason, *self._settle(item, result, claim_id, now))
            for item, result in outcomes
        ]
        try:
            counted = await self._write_answers(claim_id, answers, now)
        except Exception:
            _log.exception("delivery_record_failed", deliveries=len(outcomes))
            return
        for item, reason, _, outcome in counted:
            if reason != PAUSED:  # not sent: nothing the provider said
                self._metrics.count(item.platform, outcome, reason)
            if outcome is not Outcome.SENT:
                _log.debug(
                    "push_delivery",
                    delivery_id=str(item.delivery_id),
                    platform=item.platform,
                    outcome=str(outcome),
                    reason=reason,
                    attempt=item.attempts,
                )

    async def _write_answers(
        self, claim_id: uuid.UUID, answers: list[_Answer], now: datetime
    ) -> list[_Answer]:
        """Settle the answered deliveries still ours (a lease that ran out lost the others to
        another round) and forget the dead tokens among them; the answers written."""
        # Usually every one is still ours: settle them all and check the count, one
        # statement; where the count differs (or the driver cannot count an executemany),
        # roll back and settle only those the claim still holds.
        try:
            async with self._db.transaction() as session:
                settled = await repository.settle_deliveries(
                    session, claim_id, [settlement for _, _, settlement, _ in answers]
                )
                if settled != len(answers):
                    raise _NotAllOurs
                await self._forget_devices(session, answers, now)
            return answers
        except _NotAllOurs:
            pass
        async with self._db.transaction() as session:
            ours = await repository.still_claimed(
                session, claim_id, [item.delivery_id for item, *_ in answers]
            )
            counted = [answer for answer in answers if answer[0].delivery_id in ours]
            await repository.settle_deliveries(
                session, claim_id, [settlement for _, _, settlement, _ in counted]
            )
            await self._forget_devices(session, counted, now)
        return counted

    async def _forget_devices(
        self, session: AsyncSession, answers: list[_Answer], now: datetime
    ) -> None:
        for item, _, _, outcome in answers:
            if outcome is Outcome.INVALID_TOKEN:
                await self._forget_device(session, item, now)

    def _settle(
        self, item: _Claimed, result: PushResult, claim_id: uuid.UUID, now: datetime
    ) -> tuple[repository.Settlement, Outcome]:
        """What a delivery becomes after this answer (pure: no I/O)."""
        outcome = result.outcome
        unsent = result.reason == PAUSED
        if (
            outcome is Outcome.RETRY
            and not unsent
            and item.attempts >= self._settings.max_delivery_attempts
        ):
            outcome = Outcome.FAILED
        status = {
            Outcome.SENT: "sent",
            Outcome.RETRY: "pending",
            Outcome.INVALID_TOKEN: "invalid_token",
            Outcome.FAILED: "failed",
        }[outcome]
        retry = outcome is Outcome.RETRY
        if unsent:
            next_attempt_at = now + timedelta(seconds=result.retry_after_s or 0.0)
        elif retry:
            delay_s = self._retry_delay(item.attempts, result.retry_after_s)
            next_attempt_at = now + timedelta(seconds=delay_s)
        else:
            next_attempt_at = now
        settlement = repository.Settlement(
            delivery_id=item.delivery_id,
            status=status,
            claim_id=None if retry else claim_id,
            next_attempt_at=next_attempt_at,
            last_error=None if outcome is Outcome.SENT else result.reason[:200],
            provider_message_id=result.provider_message_id if outcome is Outcome.SENT else None,
            sent_at=now if outcome is Outcome.SENT else None,
            updated_at=now,
            attempts_refund=1 if unsent else 0,
        )
        return settlement, outcome

    async def _forget_device(self, session: AsyncSession, item: _Claimed, now: datetime) -> None:
        """The provider called the token dead: remove the device unless it re-registered."""
        assert item.message is not None
        deleted = await repository.delete_device_if_token(
            session, item.device_pk, item.message.token
        )
        if deleted is not None:
            async with changes.writer(session, deleted.owner_id) as feed:
                await feed.record_many(
                    changes.SUBSCRIPTION,
                    [
                        (changes.subscription_key(deleted.device_id, topic), None)
                        for topic in deleted.topics
                    ],
                    "delete",
                    now,
                )
                await feed.record(changes.DEVICE, deleted.device_id, "delete", at=now)

    def _retry_delay(self, attempts: int, retry_after_s: float | None) -> float:
        """Exponential backoff with jitter, never sooner than the provider's Retry-After."""
        ceiling = min(self._settings.retry_max_s, self._settings.retry_base_s * 2 ** (attempts - 1))
        backoff = random.uniform(ceiling / 2, ceiling)
        return max(backoff, retry_after_s or 0.0)


async def _contents(
    session: AsyncSession, rows: list[repository.ClaimedDelivery]
) -> dict[uuid.UUID, PushContent]:
    """What each claimed delivery sends, by content id: a notification, broadcast or poke."""

    def ids(source: str) -> set[uuid.UUID]:
        return {row.notification_id for row in rows if row.source == source}

    saved: dict[uuid.UUID, NotificationRow | BroadcastRow] = {
        **await repository.notifications_by_id(session, ids("user")),
        **await repository.broadcasts_by_id(session, ids("topic")),
    }
    pokes = await repository.pokes_by_id(session, ids("poke"))
    return {
        **{content_id: content_of(row) for content_id, row in saved.items()},
        **{content_id: poke_content(row) for content_id, row in pokes.items()},
    }
