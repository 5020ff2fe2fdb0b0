"""Preferences on real sends: quiet hours across timezones, muted categories, the hourly cap."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from prometheus_client import CollectorRegistry

from services.notifications.app import build_senders
from services.notifications.dispatcher import Dispatcher
from services.notifications.metrics import PushMetrics
from services.notifications.tables import DeliveryRow
from tests.support.notifications_api import USER_A, USER_B, Harness
from tests.support.polling import eventually

IOS_TOKEN = "cd34" * 16
ANDROID_TOKEN = "fcm-token-prefs-b"


def _quiet_now(zone: str) -> tuple[dict[str, str], datetime]:
    """Quiet hours around the present moment in `zone`, and when they end (UTC)."""
    local = datetime.now(ZoneInfo(zone))
    start = (local - timedelta(hours=1)).strftime("%H:%M")
    end_local = (local + timedelta(hours=2)).replace(second=0, microsecond=0)
    return {"start": start, "end": end_local.strftime("%H:%M")}, end_local.astimezone(UTC)


async def _put_prefs(h: Harness, user: str = USER_A, **prefs: object) -> dict[str, object]:
    response = await h.client.put("/internal/v1/preferences", json=prefs, headers=h.headers(user))
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def test_quiet_hours_hold_display_pushes_in_the_users_own_timezone(harness: Harness) -> None:
    h = harness
    await h.register("iphone", IOS_TOKEN, "ios", user=USER_A)
    await h.register("pixel", ANDROID_TOKEN, "android", user=USER_B)
    # A: quiet right now in Kathmandu (UTC+5:45). B: the same clock hours, but in a zone
    # almost eleven hours behind, so for B they are hours away.
    quiet, ends = _quiet_now("Asia/Kathmandu")
    await _put_prefs(h, USER_A, timezone="Asia/Kathmandu", quiet_hours=quiet)
    await _put_prefs(h, USER_B, timezone="America/Panama", quiet_hours=quiet)

    held = (await h.send(user=USER_A)).json()
    assert held["deferred_until"] is not None
    assert abs(datetime.fromisoformat(held["deferred_until"]) - ends) < timedelta(seconds=1)
    sent = (await h.send(user=USER_B)).json()
    assert sent["deferred_until"] is None

    await eventually(lambda: _received(h, ANDROID_TOKEN, 1))
    silent = (await h.send(user=USER_A, kind="silent", title=None, idempotency_key="s")).json()
    assert silent["deferred_until"] is None
    await eventually(lambda: _received(h, IOS_TOKEN, 1))
    # The held push was never claimed (a send takes a claim, and a claim counts an attempt).
    assert await _status_and_attempts(h, held["notification_id"]) == ("pending", 0)
    [push] = await h.received(token=IOS_TOKEN)
    assert push["payload"]["aps"] == {"content-available": 1}  # only the silent one went out

    # When the quiet hours are over, the held push goes out.
    settings = h.app.state.runtime.settings
    senders = build_senders(settings)
    later = Dispatcher(
        h.app.state.runtime.db,
        senders,
        settings,
        PushMetrics(CollectorRegistry()),
        clock=lambda: ends + timedelta(seconds=1),
    )
    try:
        assert await later.dispatch_due() == 1
    finally:
        for sender in senders.values():
            await sender.aclose()
    pushes = await h.received(token=IOS_TOKEN)
    assert [p["payload"]["aps"] for p in pushes][-1] == {"alert": {"title": "Model ready"}}


async def test_a_muted_category_keeps_the_inbox_entry_but_sends_nothing(harness: Harness) -> None:
    h = harness
    await h.register("iphone", IOS_TOKEN, "ios")
    await _put_prefs(h, muted_categories=["marketing"])
    muted = (await h.send(category="marketing", idempotency_key="m")).json()
    assert (muted["deliveries"], muted["suppressed"]) == (0, "CATEGORY_MUTED")
    inbox = (await h.client.get("/internal/v1/notifications", headers=h.headers())).json()
    assert [n["id"] for n in inbox["items"]] == [muted["notification_id"]]
    kept = (await h.send(category="training", idempotency_key="t")).json()
    assert kept["deliveries"] == 1
    await eventually(lambda: _received(h, IOS_TOKEN, 1))
    await h.drained()
    assert len(await h.received()) == 1


async def test_the_hourly_cap_counts_display_pushes_only(harness: Harness) -> None:
    h = harness
    await h.register("iphone", IOS_TOKEN, "ios")
    await _put_prefs(h, hourly_cap=2)
    results = [(await h.send(idempotency_key=f"d{i}")).json() for i in range(3)]
    assert [r["suppressed"] for r in results] == [None, None, "HOURLY_CAP"]
    silent = (await h.send(kind="silent", title=None, idempotency_key="s")).json()
    assert silent["suppressed"] is None
    async with h.app.state.runtime.db.session() as session:
        pending = await session.scalar(sa.select(sa.func.count()).select_from(DeliveryRow))
    assert pending == 3


async def test_preferences_round_trip_and_are_validated(harness: Harness) -> None:
    h = harness
    default = (await h.client.get("/internal/v1/preferences", headers=h.headers())).json()
    assert default == {
        "timezone": "UTC",
        "quiet_hours": None,
        "muted_categories": [],
        "hourly_cap": None,
    }
    saved = await _put_prefs(
        h,
        timezone="Europe/Paris",
        quiet_hours={"start": "22:00", "end": "07:00"},
        muted_categories=["b", "a", "a"],
        hourly_cap=5,
    )
    assert saved["muted_categories"] == ["a", "b"]
    assert (await h.client.get("/internal/v1/preferences", headers=h.headers())).json() == saved
    other = (await h.client.get("/internal/v1/preferences", headers=h.headers(USER_B))).json()
    assert other["timezone"] == "UTC"
    bad = await h.client.put(
        "/internal/v1/preferences", json={"timezone": "Mars/Olympus"}, headers=h.headers()
    )
    assert (bad.status_code, bad.json()["error"]["code"]) == (422, "INVALID_TIMEZONE")
    bad_time = await h.client.put(
        "/internal/v1/preferences",
        json={"quiet_hours": {"start": "25:00", "end": "07:00"}},
        headers=h.headers(),
    )
    assert bad_time.status_code == 422


async def _received(h: Harness, token: str, expected: int) -> bool:
    return len(await h.received(token=token)) >= expected


async def _status_and_attempts(h: Harness, notification_id: str) -> tuple[str, int]:
    query = sa.select(DeliveryRow.status, DeliveryRow.attempts).where(
        DeliveryRow.notification_id == uuid.UUID(notification_id)
    )
    async with h.app.state.runtime.db.session() as session:
        status, attempts = (await session.execute(query)).one()
    return str(status), int(attempts)
