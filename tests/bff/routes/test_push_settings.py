"""The phone's push features through the BFF: token, topics, preferences, inbox read state."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bff.app import create_app as create_bff
from services.notifications.app import create_app as create_notifications
from services.notifications.settings import NotificationsSettings
from tests.support.apps import running_app, service_headers
from tests.support.bff_accounts import bearer, bff_settings, sign_up
from tests.support.servers import serve_app
from tests.support.settings import make_settings


@pytest.fixture
async def phone(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """The BFF (in-process) talking to a real notifications service on a loopback port."""
    settings = make_settings(
        NotificationsSettings, tmp_path / "notifications", fcm_enabled=False, apns_enabled=False
    )
    async with serve_app(create_notifications(settings)) as url:
        bff = create_bff(bff_settings(tmp_path / "bff", notifications_url=url))
        async with running_app(bff) as client, httpx.AsyncClient(base_url=url) as service:
            yield client, service


async def test_topics_preferences_and_read_state_through_the_bff(
    phone: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    client, service = phone
    tokens = await sign_up(client)
    user_id = tokens["user"]["id"]
    auth = {**bearer(tokens), "X-Timezone": "Europe/Paris"}

    registered = await client.put(
        "/api/v1/devices/phone-1/push-token",
        json={"token": "fcm-bff-token-1", "platform": "android"},
        headers=auth,
    )
    assert registered.status_code == 200, registered.text
    sub = await client.put("/api/v1/devices/phone-1/topics/churn-models", headers=auth)
    assert (sub.status_code, sub.json()["topic"]) == (200, "churn-models")
    listed = (await client.get("/api/v1/subscriptions", headers=auth)).json()
    assert [s["topic"] for s in listed["items"]] == ["churn-models"]
    bad_topic = await client.put("/api/v1/devices/phone-1/topics/bad%20topic", headers=auth)
    assert bad_topic.status_code == 422
    gone = await client.delete("/api/v1/devices/phone-1/topics/churn-models", headers=auth)
    assert gone.status_code == 204

    prefs = await client.put(
        "/api/v1/notification-preferences",
        json={"quiet_hours": {"start": "22:00", "end": "07:00"}, "muted_categories": ["promo"]},
        headers=auth,
    )
    assert prefs.status_code == 200, prefs.text
    assert prefs.json()["timezone"] == "Europe/Paris"  # from X-Timezone
    assert (await client.get("/api/v1/notification-preferences", headers=auth)).json() == (
        prefs.json()
    )

    # Another service sends two notifications to this user.
    as_user = service_headers("notifications", user_id)
    ids = [
        (
            await service.post(
                "/internal/v1/send",
                json={"kind": "silent", "idempotency_key": f"k{i}"},
                headers=as_user,
            )
        ).json()["notification_id"]
        for i in range(2)
    ]
    count = await client.get("/api/v1/notifications/unread-count", headers=auth)
    assert count.json() == {"unread": 2}
    one = await client.post(f"/api/v1/notifications/{ids[0]}/read", headers=auth)
    assert one.status_code == 200 and one.json()["read_at"]
    rest = await client.post("/api/v1/notifications/read", json={"all": True}, headers=auth)
    assert rest.json() == {"updated": 1, "unread": 0}
    other = await sign_up(client, email="bob@example.com", device_id="device-2")
    theirs = await client.post(f"/api/v1/notifications/{ids[0]}/read", headers=bearer(other))
    assert theirs.status_code == 404
