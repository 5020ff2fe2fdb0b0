"""Pushes a job's outcome owes its owner, sent at least once and received once.

The push is saved in the transaction that settles the job, so a crash of this process or a
notifications service that is down for a while loses nothing: the sender tries each due push
until the notifications service takes it, backing off, and only then forgets it. Every
replica may send a due push (no claim): the push's idempotency key makes the notifications
service keep one, however many times it arrives.
"""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from proto.notifications import SendToUser
from services.kit.clock import utc_now
from services.kit.database import Database
from services.kit.http_client import DownstreamError, DownstreamUnavailable
from services.kit.structured_logging import get_logger
from services.training.notifications_client import NotificationsClient
from services.training.tables import PushOutboxRow

_log = get_logger(__name__)
_BATCH = 50
_RETRY_MAX_S = 60.0


def enqueue(session: AsyncSession, owner_id: str, message: SendToUser) -> None:
    """Owe `message` to `owner_id` once this transaction commits."""
    session.add(
        PushOutboxRow(
            idempotency_key=message.idempotency_key,
            owner_id=owner_id,
            message=message.model_dump(mode="json"),
            attempts=0,
            next_attempt_at=utc_now(),
        )
    )


class PushSender:
    """Sends what the outbox holds: at once when woken, else every `poll_s`."""

    def __init__(self, db: Database, notifications: NotificationsClient, poll_s: float) -> None:
        self._db = db
        self._notifications = notifications
        self._poll_s = poll_s
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            try:
                await self.send_due()
            except Exception as exc:  # the database went away: the next round tries again
                _log.warning("push_outbox_round_failed", error=type(exc).__name__)
            try:
                await asyncio.wait_for(self._wake.wait(), self._poll_s)
            except TimeoutError:
                pass
            self._wake.clear()

    async def send_due(self) -> int:
        """Send every due push once; how many the notifications service took."""
        async with self._db.session() as session:
            due = list(
                await session.scalars(
                    sa.select(PushOutboxRow)
                    .where(PushOutboxRow.next_attempt_at <= utc_now())
                    .order_by(PushOutboxRow.next_attempt_at)
                    .limit(_BATCH)
                )
            )
        sent = 0
        for row in due:
            message = SendToUser.model_validate(row.message)
            try:
                await self._notifications.send(row.owner_id, message)
            except DownstreamUnavailable as exc:
                await self._later(row, str(exc))
                return sent  # the service is down: the rest waits too
            except DownstreamError as exc:  # refused for good (a 4xx): nothing to retry
                _log.warning("push_outbox_refused", key=row.idempotency_key, status=exc.status)
            await self._forget(row)
            sent += 1
        return sent

    async def _later(self, row: PushOutboxRow, reason: str) -> None:
        delay = min(_RETRY_MAX_S, 0.5 * 2**row.attempts) * random.uniform(0.5, 1.0)
        async with self._db.transaction() as session:
            await session.execute(
                sa.update(PushOutboxRow)
                .where(PushOutboxRow.idempotency_key == row.idempotency_key)
                .values(
                    attempts=PushOutboxRow.attempts + 1,
                    next_attempt_at=utc_now() + timedelta(seconds=delay),
                )
            )
        _log.info("push_outbox_retry", key=row.idempotency_key, reason=reason, in_s=round(delay, 2))

    async def _forget(self, row: PushOutboxRow) -> None:
        async with self._db.transaction() as session:
            await session.execute(
                sa.delete(PushOutboxRow).where(PushOutboxRow.idempotency_key == row.idempotency_key)
            )
