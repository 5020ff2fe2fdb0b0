"""Admin operations that reach the services: broadcasts (and their dry run), a user's push
devices, the training queue and dead pushes, against the real services on loopback ports."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bff.app import create_app
from services.notifications.app import create_app as create_notifications
from services.notifications.settings import NotificationsSettings
from services.training.app import create_app as create_training
from services.training.settings import TrainingSettings
from tests.bff.admin.conftest import Admin
from tests.support.apps import running_app
from tests.support.bff_accounts import bearer, bff_settings, sign_up
from tests.support.servers import serve_app
from tests.support.settings import make_settings


@pytest.fixture
async def admin(tmp_path: Path) -> AsyncIterator[Admin]:
    notifications = make_settings(
        NotificationsSettings, tmp_path / "notifications", fcm_enabled=False, apns_enabled=False
    )
    training = make_settings(TrainingSettings, tmp_path / "training", worker_enabled=False)
    async with (
        serve_app(create_notifications(notifications)) as notifications_url,
        serve_app(create_training(training)) as training_url,
    ):
        app = create_app(
            bff_settings(
                tmp_path / "bff", notifications_url=notifications_url, training_url=training_url
            )
        )
        async with running_app(app) as client:
            yield Admin(client, app.state.admin)


async def _phone_following(admin: Admin, email: str, device: str, topic: str) -> dict[str, str]:
    user = bearer(await sign_up(admin.client, email=email, device_id=device))
    headers = {**user, "X-Device-ID": device}
    registered = await admin.client.put(
        f"/api/v1/devices/{device}/push-token",
        json={"token": f"fcm-token-{device}", "platform": "android"},
        headers=headers,
    )
    assert registered.status_code in (200, 201), registered.text
    followed = await admin.client.put(f"/api/v1/devices/{device}/topics/{topic}", headers=headers)
    assert followed.status_code == 200, followed.text
    return user


async def test_a_broadcast_dry_run_counts_and_a_real_one_goes_out_once(admin: Admin) -> None:
    await _phone_following(admin, "ada@example.com", "ada-phone", "news")
    await _phone_following(admin, "bob@example.com", "bob-phone", "news")
    token = await admin.token(["push:send"])
    message = {"title": "Tern 2.3 is out", "idempotency_key": "release-2.3"}

    dry = await admin.client.post(
        "/admin/v1/topics/news/broadcasts", json={**message, "dry_run": True}, headers=token
    )
    sent = await admin.client.post("/admin/v1/topics/news/broadcasts", json=message, headers=token)
    again = await admin.client.post("/admin/v1/topics/news/broadcasts", json=message, headers=token)
    refused = await admin.client.post(
        "/admin/v1/topics/news/broadcasts", json=message, headers=await admin.token(["ops:read"])
    )

    assert dry.json() == {
        "topic": "news",
        "dry_run": True,
        "devices": 2,
        "devices_at_least": False,
        "broadcast": None,
    }
    assert sent.status_code == 200, sent.text
    assert sent.json()["broadcast"]["duplicate"] is False
    assert again.json()["broadcast"]["broadcast_id"] == sent.json()["broadcast"]["broadcast_id"]
    assert again.json()["broadcast"]["duplicate"] is True
    assert refused.status_code == 403
    entries = await admin.audit(action="topic.broadcast")
    # Newest first: the refused one, the retry, the first; a dry run writes nothing.
    assert [e["outcome"] for e in entries] == ["FORBIDDEN_SCOPE", "ok", "ok"]
    assert entries[1]["details"]["idempotency_key"] == "release-2.3"


async def test_a_users_devices_listed_and_a_lost_phone_revoked(admin: Admin) -> None:
    ada = await _phone_following(admin, "ada@example.com", "ada-phone", "news")
    reader, revoker = await admin.token(["users:read"]), await admin.token(["users:revoke"])

    devices = await admin.client.get("/admin/v1/users/ada@example.com/devices", headers=reader)
    revoked = await admin.client.delete(
        "/admin/v1/users/ada@example.com/devices/ada-phone", headers=revoker
    )
    after = await admin.client.get("/admin/v1/users/ada@example.com/devices", headers=reader)
    signed_out = await admin.client.get("/api/v1/sessions", headers=ada)

    assert [d["device_id"] for d in devices.json()["items"]] == ["ada-phone"]
    assert revoked.json() == {"sessions_ended": 1, "device_forgotten": True}
    assert after.json()["items"] == []
    assert signed_out.status_code == 401
    [entry] = await admin.audit(action="device.revoke")
    assert (entry["target"], entry["outcome"]) == ("ada@example.com/ada-phone", "ok")


async def test_the_training_queue_and_dead_pushes_are_read_for_operators(admin: Admin) -> None:
    token = await admin.token(["ops:read"])

    queue = await admin.client.get("/admin/v1/training/queue", headers=token)
    dead = await admin.client.get("/admin/v1/pushes/dead?status=invalid_token", headers=token)
    bad = await admin.client.get("/admin/v1/pushes/dead?status=sent", headers=token)
    refused = await admin.client.get(
        "/admin/v1/training/queue", headers=await admin.token(["config:read"])
    )

    assert queue.json() == {
        "items": [],
        "next_cursor": None,
        "queued": 0,
        "running": 0,
        "counts_at_least": False,
    }
    assert dead.json() == {"items": [], "next_cursor": None}
    assert bad.status_code == 422
    assert refused.status_code == 403
