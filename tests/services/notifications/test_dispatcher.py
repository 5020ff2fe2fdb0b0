"""The outbox survives a crash mid-send: only unacknowledged deliveries are sent again."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry
from sqlalchemy import event

from proto.notifications import SendToUser
from services.kit.clock import utc_now
from services.notifications import service
from services.notifications.app import build_senders
from services.notifications.dispatcher import Dispatcher
from services.notifications.metrics import PushMetrics
from services.notifications.settings import NotificationsSettings
from services.notifications.tables import DeliveryRow
from tests.support.notifications_api import USER_A, Harness, running_harness


@pytest.fixture
async def slow_harness(
    notifications_settings: NotificationsSettings, fake_push_url: str
) -> AsyncIterator[Harness]:
    # The app's own dispatcher only wakes on a send request or after a long poll.
    settings = notifications_settings.model_copy(
        update={"dispatch_poll_s": 60.0, "dispatch_lease_s": 0.3}
    )
    async with running_harness(settings, fake_push_url) as harness:
        yield harness


async def test_a_crash_mid_batch_resends_only_the_unacknowledged(slow_harness: Harness) -> None:
    h = slow_harness
    await h.register("iphone", "aa11" * 16, "ios")
    await h.register("pixel", "fcm-token-crash", "android")
    db, settings = h.app.state.runtime.db, h.app.state.runtime.settings
    await service.send_to_user(db, USER_A, SendToUser(title="x", idempotency_key="k"), settings)
    # Both processes read one clock, moved past the lease instead of sleeping through it.
    now = utc_now()
    senders = build_senders(settings)
    crashed = Dispatcher(db, senders, settings, PushMetrics(CollectorRegistry()), clock=lambda: now)
    claim_id, claimed = await crashed._claim()
    assert len(claimed) == 2
    await crashed._deliver(claim_id, claimed[0])  # acknowledged, then the process "dies"
    for sender in senders.values():
        await sender.aclose()

    senders = build_senders(settings)
    survivor = Dispatcher(
        db, senders, settings, PushMetrics(CollectorRegistry()), clock=lambda: now
    )
    try:
        assert await survivor.dispatch_due() == 0  # still leased to the dead process
        now += timedelta(seconds=settings.dispatch_lease_s)  # the lease runs out
        assert await survivor.dispatch_due() == 1
    finally:
        for sender in senders.values():
            await sender.aclose()

    received = await h.received()
    assert sorted(p["token"] for p in received) == sorted(["aa11" * 16, "fcm-token-crash"])
    assert await h.delivery_statuses() == [("sent", None), ("sent", None)]


class _SettleFailsOnce:
    """Makes the first write of the providers' answers fail, as a crash right after the
    provider answered would: the push went out, the outbox does not know."""

    def __init__(self) -> None:
        self.failed = False

    def __call__(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not self.failed and statement.lstrip().upper().startswith(
            "UPDATE DELIVERIES SET STATUS"
        ):
            self.failed = True
            raise RuntimeError("crashed between the provider's answer and the record")


@pytest.mark.parametrize(
    ("platform", "token"), [("ios", "bb22" * 16), ("android", "fcm-token-unrecorded")]
)
async def test_a_push_sent_but_not_recorded_is_resent_with_the_same_collapse_id(
    slow_harness: Harness, platform: str, token: str
) -> None:
    h = slow_harness
    db = h.app.state.runtime.db
    await h.register("phone", token, platform)
    sent = await service.send_to_user(
        db, USER_A, SendToUser(title="x", idempotency_key="k"), h.app.state.runtime.settings
    )
    dispatcher: Dispatcher = h.app.state.context.dispatcher
    failure = _SettleFailsOnce()
    event.listen(db.engine.sync_engine, "before_cursor_execute", failure)
    try:
        assert await dispatcher.dispatch_due() == 1
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", failure)
    assert failure.failed
    assert len(await h.received()) == 1  # the phone has it; the outbox still says pending

    # When the lease runs out, the delivery is sent again (at least once)...
    deadline = time.monotonic() + 5
    while await dispatcher.dispatch_due() == 0:
        assert time.monotonic() < deadline, "the unrecorded delivery was never sent again"
        await asyncio.sleep(0.05)

    # ... as a copy the phone collapses into the first one.
    pushes = await h.received()
    assert len(pushes) == 2
    assert {_collapse_id(push) for push in pushes} == {str(sent.notification_id)}
    if platform == "ios":  # the same delivery, so the same apns-id
        assert len({push["headers"]["apns-id"] for push in pushes}) == 1
    async with db.session() as session:
        rows = (await session.execute(sa.select(DeliveryRow.status, DeliveryRow.attempts))).all()
    assert [tuple(row) for row in rows] == [("sent", 2)]
    assert await dispatcher.dispatch_due() == 0  # settled: never sent a third time


def _collapse_id(push: dict[str, Any]) -> str:
    if push["platform"] == "apns":
        return str(push["headers"]["apns-collapse-id"])
    return str(push["payload"]["android"]["notification"]["tag"])
