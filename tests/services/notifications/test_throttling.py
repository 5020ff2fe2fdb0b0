"""A provider's Retry-After pauses that whole platform; the other one keeps full rate."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from services.notifications.settings import NotificationsSettings
from services.notifications.tables import DeliveryRow
from tests.support.notifications_api import Harness, running_harness
from tests.support.polling import eventually

IOS_TOKEN = "ff66" * 16
# Long enough that the unpaused platform's push is out well within it on a busy machine.
RETRY_AFTER_S = 4


async def _send_to(h: Harness, key: str, *device_ids: str) -> str:
    body = {"title": "Model ready", "idempotency_key": key, "device_ids": list(device_ids)}
    response = await h.client.post("/internal/v1/send/devices", json=body, headers=h.headers())
    assert response.status_code == 202, response.text
    return str(response.json()["notification_id"])


async def _deliveries(h: Harness, notification_id: str) -> dict[str, tuple[str, int, str | None]]:
    """platform -> (status, attempts, last_error) of a notification to one device per platform."""
    query = sa.select(
        DeliveryRow.platform, DeliveryRow.status, DeliveryRow.attempts, DeliveryRow.last_error
    ).where(DeliveryRow.notification_id == uuid.UUID(notification_id))
    async with h.app.state.runtime.db.session() as session:
        rows = (await session.execute(query)).all()
    return {platform: (status, attempts, error) for platform, status, attempts, error in rows}


async def test_a_retry_after_pauses_its_platform_and_only_that_one(harness: Harness) -> None:
    h = harness
    await h.register("pixel-1", "fcm-throttled-1", "android")
    await h.register("pixel-2", "fcm-throttled-2", "android")
    await h.register("iphone", IOS_TOKEN, "ios")
    await h.fail_next("android", 429, "QUOTA_EXCEEDED", retry_after=RETRY_AFTER_S)
    started = datetime.now(UTC)
    first = await _send_to(h, "throttle-1", "pixel-1")
    await eventually(lambda: _answered_with(h, first, "QUOTA_EXCEEDED"))

    # FCM said "wait": the next Android push waits too, though it never got a 429 itself...
    second = await _send_to(h, "throttle-2", "pixel-2", "iphone")
    await eventually(lambda: _settled(h, first, second), timeout_s=RETRY_AFTER_S + 5)
    pushes = {p["token"]: p for p in await h.received()}
    assert set(pushes) == {"fcm-throttled-1", "fcm-throttled-2", IOS_TOKEN}
    assert _seconds_after(started, pushes["fcm-throttled-1"]) >= RETRY_AFTER_S
    assert _seconds_after(started, pushes["fcm-throttled-2"]) >= RETRY_AFTER_S
    # ... while iOS went on at full rate.
    assert _seconds_after(started, pushes[IOS_TOKEN]) < RETRY_AFTER_S
    # Held back is not tried: the paused push went out on its first attempt.
    assert await _deliveries(h, second) == {"android": ("sent", 1, None), "ios": ("sent", 1, None)}
    assert await _deliveries(h, first) == {"android": ("sent", 2, None)}
    metrics = (await h.client.get("/metrics")).text
    assert 'tern_push_retried_total{platform="android",reason="QUOTA_EXCEEDED"} 1.0' in metrics
    assert "PROVIDER_PAUSED" not in metrics  # nothing the provider said


@pytest.fixture
async def one_at_a_time(
    notifications_settings: NotificationsSettings, fake_push_url: str
) -> AsyncIterator[Harness]:
    """One send at a time: the rest of a claimed round waits its turn."""
    settings = notifications_settings.model_copy(update={"dispatch_concurrency": 1})
    async with running_harness(settings, fake_push_url) as harness:
        yield harness


async def test_claimed_pushes_not_yet_sent_wait_for_the_pause_without_using_a_try(
    one_at_a_time: Harness,
) -> None:
    h = one_at_a_time
    await h.register("pixel-1", "fcm-round-1", "android")
    await h.register("pixel-2", "fcm-round-2", "android")
    await h.fail_next("android", 503, "UNAVAILABLE", retry_after=RETRY_AFTER_S)
    started = datetime.now(UTC)
    sent = await h.send(idempotency_key="one-round")  # both devices, claimed in one round
    notification_id = sent.json()["notification_id"]
    await eventually(lambda: _settled(h, notification_id), timeout_s=RETRY_AFTER_S + 5)

    pushes = await h.received()
    assert sorted(p["token"] for p in pushes) == ["fcm-round-1", "fcm-round-2"]
    assert all(_seconds_after(started, push) >= RETRY_AFTER_S for push in pushes)
    query = sa.select(DeliveryRow.attempts).order_by(DeliveryRow.attempts)
    async with h.app.state.runtime.db.session() as session:
        attempts = (await session.execute(query)).scalars().all()
    assert attempts == [1, 2]  # the 503 took one try; the push held back behind it none


def _seconds_after(started: datetime, push: dict[str, Any]) -> float:
    return (datetime.fromisoformat(push["received_at"]) - started).total_seconds()


async def _answered_with(h: Harness, notification_id: str, reason: str) -> bool:
    return (await _deliveries(h, notification_id))["android"][2] == reason


async def _settled(h: Harness, *notification_ids: str) -> bool:
    ids = [uuid.UUID(i) for i in notification_ids]
    query = sa.select(DeliveryRow.status).where(DeliveryRow.notification_id.in_(ids))
    async with h.app.state.runtime.db.session() as session:
        statuses = (await session.execute(query)).scalars().all()
    return bool(statuses) and "pending" not in statuses
