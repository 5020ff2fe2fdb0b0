"""Pokes: a silent push to the user's other devices so they sync; never an inbox entry or a
change, idempotent per user, not held by preferences, and durable once accepted. The service
runs on SQLite; the last test runs the queries on PostgreSQL too (TEST_DATABASE_URL)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from prometheus_client import CollectorRegistry

from proto.notifications import DeviceRegister, Poke
from services.kit.database import Database
from services.notifications import pokes, service
from services.notifications.dispatcher import Dispatcher
from services.notifications.metrics import PushMetrics
from services.notifications.push_types import Outcome, PushMessage, PushResult
from services.notifications.settings import NotificationsSettings
from services.notifications.tables import FEED, NotificationRow
from tests.support.notifications_api import USER_A, USER_B, Harness, running_harness
from tests.support.polling import eventually
from tests.support.settings import make_settings

IPHONE = "ab12" * 16
IPAD = "cd34" * 16
PIXEL = "fcm-token-pixel-1"
OTHER_USERS_PHONE = "ef56" * 16


async def _poke(h: Harness, user: str = USER_A, **fields: Any) -> httpx.Response:
    body = {"idempotency_key": "poke-1", **fields}
    return await h.client.post("/internal/v1/pokes", json=body, headers=h.headers(user))


async def _devices(h: Harness) -> None:
    await h.register("iphone", IPHONE, "ios")
    await h.register("ipad", IPAD, "ios")
    await h.register("pixel", PIXEL, "android")
    await h.register("phone", OTHER_USERS_PHONE, "ios", user=USER_B)


async def _received(h: Harness, count: int) -> list[dict[str, Any]]:
    async def arrived() -> bool:
        return len(await h.received()) >= count

    await eventually(arrived)
    await h.drained()  # nothing left to send: no more copies to come
    return await h.received()


async def test_a_poke_reaches_the_other_devices_as_a_silent_push_without_user_data(
    harness: Harness,
) -> None:
    h = harness
    await _devices(h)
    response = await _poke(h, except_device="ipad", scope="datasets")
    assert response.status_code == 202
    assert response.json() == {"deliveries": 2, "duplicate": False}

    pushes = await _received(h, 2)
    assert sorted(p["token"] for p in pushes) == sorted([IPHONE, PIXEL])  # not the ipad's
    [apns] = [p for p in pushes if p["platform"] == "apns"]
    assert apns["payload"] == {"aps": {"content-available": 1}, "tern": "datasets"}
    assert apns["headers"]["apns-push-type"] == "background"
    assert apns["headers"]["apns-priority"] == "5"
    assert apns["headers"]["apns-collapse-id"] == "tern-datasets"
    expires_in = int(apns["headers"]["apns-expiration"]) - datetime.now(UTC).timestamp()
    assert 200 < expires_in <= 300  # minutes, not the day a notification keeps
    [fcm] = [p for p in pushes if p["platform"] == "fcm"]
    assert fcm["payload"] == {
        "token": PIXEL,
        "data": {"tern": "datasets"},
        "android": {"priority": "NORMAL", "ttl": "300s", "collapse_key": "tern-datasets"},
    }


async def test_a_poke_without_an_excepted_device_reaches_every_device(harness: Harness) -> None:
    h = harness
    await _devices(h)
    assert (await _poke(h)).json()["deliveries"] == 3  # a job finished: no device made it

    pushes = await _received(h, 3)
    assert sorted(p["token"] for p in pushes) == sorted([IPHONE, IPAD, PIXEL])
    assert {p["headers"].get("apns-collapse-id") for p in pushes if p["platform"] == "apns"} == {
        "tern-sync"
    }


async def test_a_poke_is_neither_an_inbox_entry_nor_a_change(harness: Harness) -> None:
    h = harness
    await _devices(h)
    feed_before = (await h.client.get("/internal/v1/feed", headers=h.headers())).json()
    await _poke(h, except_device="ipad")
    await _received(h, 2)

    inbox = await h.client.get("/internal/v1/notifications?count_unread=true", headers=h.headers())
    assert inbox.json()["items"] == []
    assert inbox.headers["x-unread-count"] == "0"
    unread = await h.client.get("/internal/v1/notifications/unread-count", headers=h.headers())
    assert unread.json() == {"unread": 0}
    feed = (await h.client.get("/internal/v1/feed", headers=h.headers())).json()
    assert feed == feed_before  # a poke recorded as a change would cause another poke
    assert {e["kind"] for e in feed["entries"]} == {"device"}


async def test_a_replayed_poke_sends_nothing_more(harness: Harness) -> None:
    h = harness
    await _devices(h)
    first = (await _poke(h, except_device="ipad")).json()
    await _received(h, 2)
    again = await _poke(h, except_device="ipad")
    assert again.status_code == 202
    assert again.json() == {"deliveries": first["deliveries"], "duplicate": True}
    await h.drained()
    assert len(await h.received()) == 2


async def test_another_users_devices_never_get_a_poke(harness: Harness) -> None:
    h = harness
    await _devices(h)
    await _poke(h)
    # The same key from another user is that user's own poke, to their devices only.
    theirs = (await _poke(h, user=USER_B, except_device="iphone")).json()
    assert theirs == {"deliveries": 1, "duplicate": False}

    pushes = await _received(h, 4)
    assert [p["token"] for p in pushes].count(OTHER_USERS_PHONE) == 1
    assert sorted(p["token"] for p in pushes) == sorted([IPHONE, IPAD, PIXEL, OTHER_USERS_PHONE])


async def test_preferences_do_not_hold_a_poke(harness: Harness) -> None:
    h = harness
    await h.register("iphone", IPHONE, "ios")
    prefs = {
        "hourly_cap": 1,
        "muted_categories": ["poke", "sync", "general"],
        "quiet_hours": {"start": "00:00", "end": "23:59"},
    }
    put = await h.client.put("/internal/v1/preferences", json=prefs, headers=h.headers())
    assert put.status_code == 200, put.text
    for key in ("a", "b", "c"):
        assert (await _poke(h, idempotency_key=key)).json()["deliveries"] == 1
    assert len(await _received(h, 3)) == 3


async def test_an_accepted_poke_is_sent_by_the_next_process(
    notifications_settings: NotificationsSettings, fake_push_url: str
) -> None:
    # Accepted by a process that never sends (as if it died right after answering 202) ...
    idle = notifications_settings.model_copy(update={"dispatch_enabled": False})
    async with running_harness(idle, fake_push_url) as h:
        await h.register("iphone", IPHONE, "ios")
        assert (await _poke(h)).json() == {"deliveries": 1, "duplicate": False}
        assert await h.received() == []
    # ... the outbox still holds it: the next process sends it.
    async with running_harness(notifications_settings, fake_push_url) as h:
        [push] = await _received(h, 1)
        assert push["payload"] == {"aps": {"content-available": 1}, "tern": "sync"}


class _RecordingSender:
    """A provider that accepts everything and keeps what it was sent."""

    platform = "ios"

    def __init__(self) -> None:
        self.sent: list[PushMessage] = []

    async def send(self, message: PushMessage) -> PushResult:
        self.sent.append(message)
        return PushResult(Outcome.SENT, "", provider_message_id="m")

    async def aclose(self) -> None:
        return None


async def test_concurrent_replays_queue_one_poke_and_the_dispatcher_sends_it(
    db: Database, tmp_path: Path
) -> None:
    settings = make_settings(NotificationsSettings, tmp_path / "svc")
    for device_id, token in (("iphone", IPHONE), ("ipad", IPAD)):
        register = DeviceRegister(token=token, platform="ios")
        await service.register_device(db, USER_A, device_id, register, max_devices=20)
    await service.register_device(
        db, USER_B, "phone", DeviceRegister(token=OTHER_USERS_PHONE, platform="ios"), 20
    )
    request = Poke(except_device="ipad", scope="models", idempotency_key="job-9")

    results = await asyncio.gather(*(pokes.poke(db, USER_A, request, settings) for _ in range(4)))
    assert sorted(r.duplicate for r in results) == [False, True, True, True]
    assert {r.deliveries for r in results} == {1}

    sender = _RecordingSender()
    dispatcher = Dispatcher(db, {"ios": sender}, settings, PushMetrics(CollectorRegistry()))
    assert await dispatcher.dispatch_due() == 1
    [message] = sender.sent
    assert message.token == IPHONE
    content = message.content
    assert (content.kind, content.title, content.body) == ("silent", None, None)
    assert (content.data, content.collapse_key, content.ttl_s) == (
        {"tern": "models"},
        "tern-models",
        settings.poke_ttl_s,
    )
    async with db.session() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(NotificationRow)) == 0
        feed = (await session.execute(sa.select(FEED.entries.c.kind))).scalars().all()
        version = await session.scalar(
            sa.select(FEED.counters.c.last_seq).where(FEED.counters.c.owner_id == USER_A)
        )
    assert (sorted(feed), version) == (["device"] * 3, 2)  # the devices' changes, no more
