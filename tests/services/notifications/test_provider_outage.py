"""The providers cannot be reached (nothing listens), then come back: everything queued while
they were gone arrives, once per device, through the real dispatcher."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from services.fake_push.app import create_app as create_fake_push
from services.fake_push.settings import FakePushSettings
from services.notifications.app import create_app
from services.notifications.settings import NotificationsSettings
from services.notifications.tables import DeliveryRow
from tests.support.apps import running_app
from tests.support.notifications_api import Harness
from tests.support.polling import eventually
from tests.support.servers import free_port, serve_app
from tests.support.settings import make_settings

IOS_TOKEN = "ee55" * 16
ANDROID_TOKEN = "fcm-token-outage"
SENDS = 3


@pytest.fixture
def provider_port() -> int:
    return free_port()


@pytest.fixture
async def harness_without_provider(tmp_path: Path, provider_port: int) -> AsyncIterator[Harness]:
    """The service, configured for a provider at a port where nothing listens yet."""
    url = f"http://127.0.0.1:{provider_port}"
    settings = make_settings(
        NotificationsSettings,
        tmp_path / "svc",
        fcm_base_url=url,
        fcm_token_uri=f"{url}/token",
        apns_base_url=url,
        dispatch_poll_s=0.05,
        retry_base_s=0.05,
        retry_max_s=0.2,
        push_timeout_s=2.0,
        max_delivery_attempts=1000,  # an outage of any length in this test is waited out
    )
    app = create_app(settings)
    async with (
        running_app(app) as client,
        httpx.AsyncClient(base_url=url, http1=False, http2=True) as fake,
    ):
        yield Harness(app, client, fake)


def _fake_provider(tmp_path: Path) -> FastAPI:
    fake = create_fake_push(make_settings(FakePushSettings, tmp_path / "fake"))
    return fake


async def test_pushes_queued_while_the_providers_are_down_arrive_once_when_they_are_back(
    harness_without_provider: Harness, provider_port: int, tmp_path: Path
) -> None:
    h = harness_without_provider
    await h.register("iphone", IOS_TOKEN, "ios")
    await h.register("pixel", ANDROID_TOKEN, "android")
    for i in range(SENDS):
        assert (await h.send(idempotency_key=f"outage-{i}")).status_code == 202

    # Every delivery is tried and scheduled again while nothing answers; none is given up.
    await eventually(lambda: _all_retried(h, SENDS * 2), timeout_s=10)
    metrics = (await h.client.get("/metrics")).text
    refused = 'tern_push_retried_total{platform="ios",reason="TRANSPORT_CONNECTION_FAILED"}'
    assert refused in metrics
    # FCM fails one step earlier: its OAuth token exchange cannot reach the token endpoint.
    assert 'tern_push_retried_total{platform="android",reason="OAUTH_CONNECTERROR"}' in metrics

    async with serve_app(_fake_provider(tmp_path), port=provider_port):
        await eventually(lambda: _settled(h), timeout_s=10)
        received = await h.received()

    assert await h.delivery_statuses() == [("sent", None)] * (SENDS * 2)
    # Settled deliveries are never sent again, so these counts are final.
    assert Counter(p["token"] for p in received) == {IOS_TOKEN: SENDS, ANDROID_TOKEN: SENDS}
    on_iphone = {p["payload"]["notification_id"] for p in received if p["platform"] == "apns"}
    on_pixel = {p["payload"]["data"]["notification_id"] for p in received if p["platform"] == "fcm"}
    assert len(on_iphone) == SENDS  # each notification once on each device
    assert on_pixel == on_iphone


async def _all_retried(h: Harness, expected: int) -> bool:
    async with h.app.state.runtime.db.session() as session:
        rows = (await session.execute(sa.select(DeliveryRow.status, DeliveryRow.attempts))).all()
    return len(rows) == expected and all(s == "pending" and a >= 2 for s, a in rows)


async def _settled(h: Harness) -> bool:
    statuses = await h.delivery_statuses()
    return bool(statuses) and all(status != "pending" for status, _ in statuses)
