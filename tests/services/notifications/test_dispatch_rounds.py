"""A dispatch round records each answer soon after it arrives, not when the round ends, and
keeps its deliveries leased (a heartbeat) for as long as it is in flight: a crash forgets only
the last few milliseconds of answers, and a dead round's deliveries are due within one lease."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry

from proto.notifications import SendToUser
from services.kit.clock import utc_now
from services.kit.database import Database
from services.notifications import service
from services.notifications.dispatcher import Dispatcher
from services.notifications.metrics import PushMetrics
from services.notifications.push_types import Outcome, PushMessage, PushResult
from services.notifications.settings import NotificationsSettings
from services.notifications.tables import DeliveryRow, DeviceRow
from tests.support.notifications_api import USER_A, Harness, running_harness
from tests.support.polling import eventually

LEASE_S = 0.3  # the heartbeat beats every 0.1 s of real time
FAST = ("fcm-fast-1", "fcm-fast-2", "fcm-fast-3")
SLOW = "fcm-slow"


class _HeldSender:
    """A provider that answers at once, except to the tokens in `held`: those wait until the
    test lets them go."""

    platform = "android"

    def __init__(self, *held: str) -> None:
        self.held = set(held)
        self.released = asyncio.Event()
        self.sent: list[str] = []

    async def send(self, message: PushMessage) -> PushResult:
        self.sent.append(message.token)
        if message.token in self.held:
            await self.released.wait()
        return PushResult(Outcome.SENT, "", provider_message_id=f"m-{message.token}")

    async def aclose(self) -> None:
        return None


@pytest.fixture
async def idle_harness(
    notifications_settings: NotificationsSettings, fake_push_url: str
) -> AsyncIterator[Harness]:
    """The service, whose own dispatcher stays out of the way (a long poll, never woken: the
    tests queue pushes through `service`, not the API)."""
    settings = notifications_settings.model_copy(
        update={"dispatch_poll_s": 60.0, "dispatch_lease_s": LEASE_S}
    )
    async with running_harness(settings, fake_push_url) as harness:
        yield harness


async def _queue_one_push(h: Harness) -> None:
    for i, token in enumerate((*FAST, SLOW)):
        await h.register(f"pixel-{i}", token, "android")
    db, settings = h.app.state.runtime.db, h.app.state.runtime.settings
    await service.send_to_user(db, USER_A, SendToUser(title="x", idempotency_key="k"), settings)


def _dispatcher(h: Harness, sender: _HeldSender, clock: Callable[[], datetime]) -> Dispatcher:
    db, settings = h.app.state.runtime.db, h.app.state.runtime.settings
    return Dispatcher(db, {"android": sender}, settings, PushMetrics(CollectorRegistry()), clock)


async def _deliveries(db: Database) -> dict[str, tuple[str, int, datetime]]:
    """token -> (status, attempts, next_attempt_at) of every delivery."""
    query = sa.select(
        DeviceRow.token, DeliveryRow.status, DeliveryRow.attempts, DeliveryRow.next_attempt_at
    ).join(DeviceRow, DeviceRow.id == DeliveryRow.device_pk)
    async with db.session() as session:
        rows = (await session.execute(query)).all()
    return {token: (status, attempts, due) for token, status, attempts, due in rows}


async def _statuses(db: Database) -> dict[str, str]:
    return {token: status for token, (status, _, _) in (await _deliveries(db)).items()}


async def test_answers_are_recorded_while_the_rest_of_the_round_is_in_flight(
    idle_harness: Harness,
) -> None:
    h = idle_harness
    db = h.app.state.runtime.db
    await _queue_one_push(h)
    sender = _HeldSender(SLOW)
    round_ = asyncio.create_task(_dispatcher(h, sender, utc_now).dispatch_due())

    # The provider accepted three pushes and is still working on the fourth: the three are
    # recorded already (a crash now would resend only the fourth).
    fast_sent = {**dict.fromkeys(FAST, "sent"), SLOW: "pending"}

    async def fast_ones_recorded() -> bool:
        return await _statuses(db) == fast_sent

    await eventually(fast_ones_recorded)
    assert not round_.done()

    sender.released.set()
    assert await round_ == 4
    assert await _statuses(db) == dict.fromkeys((*FAST, SLOW), "sent")
    assert sorted(sender.sent) == sorted((*FAST, SLOW))  # each once


async def test_a_round_in_flight_keeps_its_lease_and_a_dead_one_loses_it(
    idle_harness: Harness,
) -> None:
    h = idle_harness
    db = h.app.state.runtime.db
    await _queue_one_push(h)
    now = utc_now()

    def clock() -> datetime:
        return now

    sender, other_sender = _HeldSender(SLOW), _HeldSender()
    first, other = _dispatcher(h, sender, clock), _dispatcher(h, other_sender, clock)
    round_ = asyncio.create_task(first.dispatch_due())

    async def slow_one_in_flight() -> bool:
        return (await _statuses(db)).get(SLOW) == "pending" and SLOW in sender.sent

    await eventually(slow_one_in_flight)
    # Far past the lease the claim took: only the heartbeat keeps the delivery ours.
    now += timedelta(seconds=100 * LEASE_S)

    async def lease_renewed() -> bool:
        return (await _deliveries(db))[SLOW][2] > now

    await eventually(lease_renewed)
    assert await other.dispatch_due() == 0  # still leased to the round in flight

    # The process dies mid-send: no heartbeat any more, and the lease runs out.
    round_.cancel()
    with pytest.raises(asyncio.CancelledError):
        await round_
    assert await other.dispatch_due() == 0  # not before the lease ends...
    now += timedelta(seconds=LEASE_S)
    assert await other.dispatch_due() == 1  # ... but within one lease after the last beat
    deliveries = await _deliveries(db)
    assert {token: (status, n) for token, (status, n, _) in deliveries.items()} == {
        **{token: ("sent", 1) for token in FAST},
        SLOW: ("sent", 2),  # sent again: the dead round never heard back
    }
    assert other_sender.sent == [SLOW]


async def test_a_round_records_its_answers_in_groups(
    idle_harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = idle_harness
    db = h.app.state.runtime.db
    settings = h.app.state.runtime.settings.model_copy(update={"dispatch_record_batch": 2})
    await _queue_one_push(h)
    sender = _HeldSender()
    dispatcher = Dispatcher(
        db, {"android": sender}, settings, PushMetrics(CollectorRegistry()), utc_now
    )
    groups: list[int] = []
    record_all = dispatcher._record_all

    async def counting(claim_id: object, outcomes: list[object]) -> None:
        groups.append(len(outcomes))
        await record_all(claim_id, outcomes)  # type: ignore[arg-type]

    monkeypatch.setattr(dispatcher, "_record_all", counting)
    assert await dispatcher.dispatch_due() == 4
    assert sum(groups) == 4
    assert max(groups) <= 2  # never more than dispatch_record_batch per transaction
    assert await _statuses(db) == dict.fromkeys((*FAST, SLOW), "sent")
