"""Topics: subscribe through the API, broadcast, fan-out a page at a time, exactly once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from proto.notifications import Broadcast
from services.notifications import repository, topics
from services.notifications.fanout import FanOut
from services.notifications.settings import NotificationsSettings
from services.notifications.tables import BroadcastRow, DeliveryRow
from tests.support.apps import service_headers
from tests.support.notifications_api import USER_A, USER_B, Harness, running_harness
from tests.support.polling import eventually


async def _subscribe(h: Harness, device_id: str, topic: str, user: str = USER_A) -> Any:
    return await h.client.put(
        f"/internal/v1/devices/{device_id}/topics/{topic}", headers=h.headers(user)
    )


async def _broadcast(h: Harness, topic: str, **fields: Any) -> Any:
    body = {"title": "New model available", "idempotency_key": "b-1", **fields}
    return await h.client.post(
        f"/internal/v1/topics/{topic}/broadcasts",
        json=body,
        headers=service_headers("notifications", None),  # a service, acting for no user
    )


async def test_a_broadcast_reaches_every_subscriber_once(harness: Harness) -> None:
    h = harness
    for i in range(7):
        user = USER_A if i % 2 else USER_B
        platform = "ios" if i % 2 else "android"
        token = f"{i:02d}" * 32 if platform == "ios" else f"fcm-topic-{i}"
        await h.register(f"phone-{i}", token, platform, user=user)
        assert (await _subscribe(h, f"phone-{i}", "churn-models", user)).status_code == 200
    await h.register("not-subscribed", "fcm-elsewhere", "android")

    response = await _broadcast(h, "churn-models", data={"model_id": "m-9"})
    assert response.status_code == 202, response.text
    result = response.json()
    await eventually(lambda: _count(h, 7))
    await eventually(lambda: _fanned_out(h, result["broadcast_id"]))
    await h.drained()  # every delivery queued and answered: no eighth push to come
    pushes = await h.received()
    assert len({p["token"] for p in pushes}) == len(pushes) == 7
    assert "fcm-elsewhere" not in {p["token"] for p in pushes}
    status = await h.client.get(
        f"/internal/v1/broadcasts/{result['broadcast_id']}",
        headers=service_headers("notifications", None),
    )
    assert status.json()["status"] == "done"
    assert status.json()["deliveries"] == 7
    # Same key again: nothing more is sent.
    again = (await _broadcast(h, "churn-models", data={"model_id": "m-9"})).json()
    assert (again["broadcast_id"], again["duplicate"]) == (result["broadcast_id"], True)
    assert await _broadcasts(h) == 1  # nothing new to fan out
    assert await _deliveries(h) == 7
    await h.drained()
    assert len(await h.received()) == 7


@pytest.fixture
async def idle_fanout_harness(
    notifications_settings: NotificationsSettings, fake_push_url: str
) -> AsyncIterator[Harness]:
    """The app's own fan-out only looks at start-up and when the broadcast route wakes it."""
    settings = notifications_settings.model_copy(update={"fanout_poll_s": 600.0})
    async with running_harness(settings, fake_push_url) as harness:
        yield harness


async def test_fan_out_works_a_page_at_a_time_and_resumes_from_its_cursor(
    idle_fanout_harness: Harness, notifications_settings: NotificationsSettings
) -> None:
    h = idle_fanout_harness
    for i in range(10):
        await h.register(f"phone-{i}", f"fcm-page-{i}", "android")
        await _subscribe(h, f"phone-{i}", "news")
    db = h.app.state.runtime.db
    settings = notifications_settings.model_copy(update={"fanout_page_size": 3})
    created = await topics.broadcast(
        db, "news", Broadcast(title="t", idempotency_key="p"), settings
    )
    worker = FanOut(db, settings)
    pages = [await worker.fan_out_page(created.broadcast_id) for _ in range(2)]
    assert pages == [True, True]
    assert await _deliveries(h) == 6
    # A second worker (after a crash) goes on from the cursor: no repeats, nothing skipped.
    resumed = FanOut(db, settings)
    while await resumed.fan_out_page(created.broadcast_id):
        pass
    assert await _deliveries(h) == 10
    async with db.session() as session:
        device_pks = (await session.execute(sa.select(DeliveryRow.device_pk))).scalars().all()
        row = await session.get(BroadcastRow, created.broadcast_id)
    assert len(set(device_pks)) == 10
    assert row is not None and (row.status, row.deliveries) == ("done", 10)
    assert not await FanOut(db, settings).fan_out_page(created.broadcast_id)


async def test_the_hourly_cap_counts_a_broadcast_once_per_user_not_per_device(
    idle_fanout_harness: Harness, notifications_settings: NotificationsSettings
) -> None:
    h = idle_fanout_harness
    prefs = await h.client.put(
        "/internal/v1/preferences", json={"hourly_cap": 2}, headers=h.headers()
    )
    assert prefs.status_code == 200, prefs.text
    tokens = [f"fcm-cap-{i}" for i in range(3)]
    for i, token in enumerate(tokens):
        await h.register(f"phone-{i}", token, "android")
        await _subscribe(h, f"phone-{i}", "news")
    db = h.app.state.runtime.db
    # Pages of two: the user's three devices are met on two pages of each broadcast.
    settings = notifications_settings.model_copy(update={"fanout_page_size": 2})
    frozen = datetime.now(UTC)  # all three broadcasts in one hour of the cap
    worker = FanOut(db, settings, clock=lambda: frozen)
    queued = []
    for key in ("cap-1", "cap-2", "cap-3"):
        created = await topics.broadcast(
            db, "news", Broadcast(title="t", idempotency_key=key), settings
        )
        while await worker.fan_out_page(created.broadcast_id):
            pass
        async with db.session() as session:
            row = await session.get(BroadcastRow, created.broadcast_id)
        assert row is not None and row.status == "done"
        queued.append(row.deliveries)

    assert queued == [3, 3, 0]  # a cap of 2: two broadcasts reach every device, the third none
    await eventually(lambda: _count(h, 6))
    await h.drained()  # all six answered, nothing left to send: no seventh push to come
    pushes = await h.received()
    assert sorted(p["token"] for p in pushes) == sorted(tokens * 2)


async def test_subscriptions_are_per_user_and_listed(harness: Harness) -> None:
    h = harness
    await h.register("phone", "fcm-subs-a", "android", user=USER_A)
    first = await _subscribe(h, "phone", "sports")
    again = await _subscribe(h, "phone", "sports")
    assert first.json() == again.json()
    other = await _subscribe(h, "phone", "sports", user=USER_B)
    assert (other.status_code, other.json()["error"]["code"]) == (404, "DEVICE_NOT_FOUND")
    bad = await _subscribe(h, "phone", "no spaces allowed")
    assert bad.status_code == 422
    listed = (await h.client.get("/internal/v1/subscriptions", headers=h.headers())).json()
    assert [(s["topic"], s["device_id"]) for s in listed["items"]] == [("sports", "phone")]
    gone = await h.client.delete("/internal/v1/devices/phone/topics/sports", headers=h.headers())
    assert gone.status_code == 204
    missing = await h.client.delete("/internal/v1/devices/phone/topics/sports", headers=h.headers())
    assert missing.status_code == 404


async def test_a_dead_token_leaves_its_topics(harness: Harness) -> None:
    h = harness
    await h.register("phone", "invalid-topic-token", "android")
    await _subscribe(h, "phone", "news")
    await _broadcast(h, "news")
    await eventually(lambda: _device_gone(h))
    async with h.app.state.runtime.db.session() as session:
        assert await repository.subscribers_after(session, "news", None, 10) == []


async def test_a_broadcast_over_the_payload_limit_is_refused(harness: Harness) -> None:
    response = await _broadcast(harness, "news", data={f"k{i}": "v" * 100 for i in range(45)})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "PAYLOAD_TOO_LARGE"
    assert error["details"]["limit"] == 4096
    async with harness.app.state.runtime.db.session() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(BroadcastRow)) == 0


async def _count(h: Harness, expected: int) -> bool:
    return len(await h.received()) >= expected


async def _deliveries(h: Harness) -> int:
    async with h.app.state.runtime.db.session() as session:
        value = await session.scalar(sa.select(sa.func.count()).select_from(DeliveryRow))
    return int(value or 0)


async def _broadcasts(h: Harness) -> int:
    async with h.app.state.runtime.db.session() as session:
        value = await session.scalar(sa.select(sa.func.count()).select_from(BroadcastRow))
    return int(value or 0)


async def _fanned_out(h: Harness, broadcast_id: str) -> bool:
    status = await h.client.get(
        f"/internal/v1/broadcasts/{broadcast_id}", headers=service_headers("notifications", None)
    )
    return bool(status.json()["status"] == "done")


async def _device_gone(h: Harness) -> bool:
    return await h.device_ids() == []
