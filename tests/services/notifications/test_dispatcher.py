"""The outbox survives a crash mid-send: only unacknowledged deliveries are sent again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client import CollectorRegistry

from proto.notifications import SendToUser
from services.notifications import service
from services.notifications.app import build_senders, create_app
from services.notifications.dispatcher import Dispatcher
from services.notifications.metrics import PushMetrics
from services.notifications.settings import NotificationsSettings
from tests.services.notifications.conftest import USER_A, Harness
from tests.support.apps import running_app


@pytest.fixture
async def slow_harness(
    notifications_settings: NotificationsSettings, fake_push_url: str
) -> AsyncIterator[Harness]:
    # The app's own dispatcher only wakes on a send request or after a long poll.
    settings = notifications_settings.model_copy(
        update={"dispatch_poll_s": 60.0, "dispatch_lease_s": 0.3}
    )
    app = create_app(settings)
    async with (
        running_app(app) as client,
        httpx.AsyncClient(base_url=fake_push_url, http1=False, http2=True) as fake,
    ):
        yield Harness(app, client, fake)


async def test_a_crash_mid_batch_resends_only_the_unacknowledged(slow_harness: Harness) -> None:
    h = slow_harness
    await h.register("iphone", "aa11" * 16, "ios")
    await h.register("pixel", "fcm-token-crash", "android")
    settings = h.app.state.runtime.settings
    await service.send_to_user(
        h.app.state.runtime.db, USER_A, SendToUser(title="x", idempotency_key="k"), settings
    )
    senders = build_senders(settings)
    crashed = Dispatcher(
        h.app.state.runtime.db, senders, settings, PushMetrics(CollectorRegistry())
    )
    claim_id, claimed = await crashed._claim()
    assert len(claimed) == 2
    await crashed._deliver(claim_id, claimed[0])  # acknowledged, then the process "dies"
    for sender in senders.values():
        await sender.aclose()

    survivor: Dispatcher = h.app.state.dispatcher
    assert await survivor.dispatch_due() == 0  # still leased to the dead process
    await asyncio.sleep(0.35)
    assert await survivor.dispatch_due() == 1

    received = await h.received()
    assert sorted(p["token"] for p in received) == sorted(["aa11" * 16, "fcm-token-crash"])
    assert await h.delivery_statuses() == [("sent", None), ("sent", None)]
