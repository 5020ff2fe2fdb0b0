"""Register a device, send, and the push reaches the provider exactly once."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.support.notifications_api import Harness
from tests.support.polling import eventually

IOS_TOKEN = "ab12" * 16
ANDROID_TOKEN = "fcm-token-android-1"


async def test_ios_push_arrives_once_with_apns_headers_and_payload(harness: Harness) -> None:
    await harness.register("iphone", IOS_TOKEN, "ios")
    response = await harness.send(
        body="Churn v3 is trained", data={"model_id": "m-1"}, collapse_key="model-m-1"
    )
    assert response.status_code == 202
    result = response.json()
    assert (result["deliveries"], result["duplicate"]) == (1, False)

    await eventually(lambda: _count(harness, IOS_TOKEN, 1))
    await harness.drained()  # nothing left to send: no second copy to come
    [push] = await harness.received(platform="ios")
    assert push["token"] == IOS_TOKEN
    assert push["http_version"] == "2"
    assert push["headers"]["apns-topic"] == "dev.tern.app"
    assert push["headers"]["apns-push-type"] == "alert"
    assert push["headers"]["apns-priority"] == "10"
    assert push["headers"]["apns-collapse-id"] == "model-m-1"
    assert int(push["headers"]["apns-expiration"]) > 0
    assert push["payload"] == {
        "aps": {"alert": {"title": "Model ready", "body": "Churn v3 is trained"}},
        "model_id": "m-1",
        "notification_id": result["notification_id"],
        "category": "general",
    }
    assert await harness.delivery_statuses() == [("sent", None)]


async def test_android_push_arrives_once_as_fcm_v1_message(harness: Harness) -> None:
    await harness.register("pixel", ANDROID_TOKEN, "android")
    result = (await harness.send(data={"model_id": "m-1"}, ttl_s=600, priority="normal")).json()

    await eventually(lambda: _count(harness, ANDROID_TOKEN, 1))
    await harness.drained()
    [push] = await harness.received(platform="android")
    assert push["http_version"] == "2"
    assert push["headers"]["project_id"] == "tern-dev"
    assert push["payload"] == {
        "token": ANDROID_TOKEN,
        "notification": {"title": "Model ready"},
        "data": {
            "model_id": "m-1",
            "notification_id": result["notification_id"],
            "category": "general",
        },
        # No collapse key given: the notification id collapses a resent copy on the phone.
        "android": {
            "priority": "NORMAL",
            "ttl": "600s",
            "notification": {"tag": result["notification_id"]},
        },
    }


async def test_silent_pushes_wake_the_app_without_an_alert(harness: Harness) -> None:
    await harness.register("iphone", IOS_TOKEN, "ios")
    await harness.register("pixel", ANDROID_TOKEN, "android")
    response = await harness.send(kind="silent", title=None, data={"sync": "datasets"})
    assert response.json()["deliveries"] == 2

    await eventually(lambda: _count(harness, None, 2))
    [apns] = await harness.received(platform="ios")
    assert apns["payload"]["aps"] == {"content-available": 1}
    assert apns["headers"]["apns-push-type"] == "background"
    assert apns["headers"]["apns-priority"] == "5"
    assert apns["headers"]["apns-collapse-id"] == response.json()["notification_id"]
    [fcm] = await harness.received(platform="android")
    assert "notification" not in fcm["payload"]
    assert fcm["payload"]["android"] == {"priority": "NORMAL", "ttl": "86400s"}
    assert fcm["payload"]["android"]["priority"] == "NORMAL"
    assert fcm["payload"]["data"]["sync"] == "datasets"


async def test_a_repeated_idempotency_key_sends_nothing_more(harness: Harness) -> None:
    await harness.register("iphone", IOS_TOKEN, "ios")
    first = (await harness.send(idempotency_key="job-7-done")).json()
    again = (await harness.send(idempotency_key="job-7-done", title="changed")).json()
    assert again == {
        "notification_id": first["notification_id"],
        "deliveries": 1,
        "duplicate": True,
        "suppressed": None,
        "deferred_until": None,
    }
    await eventually(lambda: _count(harness, IOS_TOKEN, 1))
    await harness.drained()
    assert len(await harness.received()) == 1
    inbox = await harness.client.get("/internal/v1/notifications", headers=harness.headers())
    assert [n["id"] for n in inbox.json()["items"]] == [first["notification_id"]]


async def test_provider_outage_is_retried_until_delivered(harness: Harness) -> None:
    await harness.register("iphone", IOS_TOKEN, "ios")
    await harness.register("pixel", ANDROID_TOKEN, "android")
    await harness.fail_next("ios", 503, "ServiceUnavailable", count=2)
    await harness.fail_next("android", 503, "UNAVAILABLE", count=2)
    await harness.send()

    await eventually(lambda: _count(harness, None, 2))
    await harness.drained()
    assert len(await harness.received(platform="ios")) == 1
    assert len(await harness.received(platform="android")) == 1
    assert await harness.delivery_statuses() == [("sent", None), ("sent", None)]
    metrics = (await harness.client.get("/metrics")).text
    assert 'tern_push_retried_total{platform="ios",reason="ServiceUnavailable"} 2.0' in metrics
    assert 'tern_push_retried_total{platform="android",reason="UNAVAILABLE"} 2.0' in metrics
    assert 'tern_push_sent_total{platform="ios",reason="OK"} 1.0' in metrics


@pytest.mark.parametrize(
    ("platform", "token", "reason"),
    [("android", ANDROID_TOKEN, "QUOTA_EXCEEDED"), ("ios", IOS_TOKEN, "TooManyRequests")],
)
async def test_a_429_retry_after_is_honoured(
    harness: Harness, platform: str, token: str, reason: str
) -> None:
    await harness.register("phone", token, platform)
    await harness.fail_next(platform, 429, reason, retry_after=1)
    started = datetime.now().astimezone()
    await harness.send()

    await eventually(lambda: _count(harness, token, 1), timeout_s=5)
    [push] = await harness.received()
    waited = (datetime.fromisoformat(push["received_at"]) - started).total_seconds()
    assert waited >= 1.0
    # The provider records a push before it answers: the delivery is settled a moment later.
    await eventually(lambda: _statuses_are(harness, [("sent", None)]))
    metrics = (await harness.client.get("/metrics")).text
    assert f'tern_push_retried_total{{platform="{platform}",reason="{reason}"}} 1.0' in metrics


async def test_a_user_without_devices_still_gets_the_inbox_entry(harness: Harness) -> None:
    result = (await harness.send()).json()
    assert result["deliveries"] == 0
    inbox = await harness.client.get("/internal/v1/notifications", headers=harness.headers())
    assert inbox.json()["items"][0]["id"] == result["notification_id"]


async def _statuses_are(harness: Harness, expected: list[tuple[str, str | None]]) -> bool:
    return await harness.delivery_statuses() == expected


async def _count(harness: Harness, token: str | None, expected: int) -> bool:
    params = {"token": token} if token else {}
    return len(await harness.received(**params)) >= expected


async def test_sending_to_named_devices_reaches_only_those(harness: Harness) -> None:
    await harness.register("iphone", IOS_TOKEN, "ios")
    await harness.register("pixel", ANDROID_TOKEN, "android")
    body = {"title": "Only the phone", "idempotency_key": "dev-1", "device_ids": ["pixel"]}
    response = await harness.client.post(
        "/internal/v1/send/devices", json=body, headers=harness.headers()
    )
    assert (response.status_code, response.json()["deliveries"]) == (202, 1)
    await eventually(lambda: _count(harness, ANDROID_TOKEN, 1))
    await harness.drained()
    assert [p["token"] for p in await harness.received()] == [ANDROID_TOKEN]

    unknown = {**body, "idempotency_key": "dev-2", "device_ids": ["pixel", "someone-elses"]}
    missing = await harness.client.post(
        "/internal/v1/send/devices", json=unknown, headers=harness.headers()
    )
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "DEVICE_NOT_FOUND")
