"""Dead tokens are removed on the providers' dead-token answers, and only on those."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.notifications_api import Harness
from tests.support.polling import eventually

IOS_TOKEN = "cd34" * 16
ANDROID_TOKEN = "fcm-token-android-2"


async def _metrics(harness: Harness) -> str:
    return (await harness.client.get("/metrics")).text


def _sample(counter: str, platform: str, reason: str) -> str:
    """One Prometheus sample line of a push counter, as /metrics writes it."""
    return f'tern_push_{counter}_total{{platform="{platform}",reason="{reason}"}} 1.0'


async def _settled(harness: Harness) -> bool:
    statuses = await harness.delivery_statuses()
    return bool(statuses) and all(status != "pending" for status, _ in statuses)


@pytest.mark.parametrize(
    ("platform", "token", "reason"),
    [
        ("ios", "invalid-ios-token-1", "Unregistered"),
        ("android", "invalid-android-token-1", "UNREGISTERED"),
    ],
)
async def test_unregistered_tokens_are_removed(
    harness: Harness, platform: str, token: str, reason: str
) -> None:
    await harness.register("phone", token, platform)
    await harness.send()
    await eventually(lambda: _settled(harness))
    assert await harness.delivery_statuses() == [("invalid_token", reason)]
    assert await harness.device_ids() == []
    metrics = await _metrics(harness)
    assert _sample("invalid_token", platform, reason) in metrics
    assert "tern_push_failed_total{" not in metrics  # a dead token is not a failed push


@pytest.mark.parametrize(
    ("platform", "token", "failure"),
    [
        ("ios", IOS_TOKEN, {"status": 400, "reason": "BadDeviceToken"}),
        (
            "android",
            ANDROID_TOKEN,
            {"status": 400, "reason": "INVALID_ARGUMENT", "field": "message.token"},
        ),
    ],
)
async def test_bad_token_answers_remove_the_token(
    harness: Harness, platform: str, token: str, failure: dict[str, Any]
) -> None:
    await harness.register("phone", token, platform)
    await harness.fail_next(platform, **failure)
    await harness.send()
    await eventually(lambda: _settled(harness))
    assert await harness.delivery_statuses() == [("invalid_token", failure["reason"])]
    assert await harness.device_ids() == []
    metrics = await _metrics(harness)
    assert _sample("invalid_token", platform, failure["reason"]) in metrics
    assert "tern_push_failed_total{" not in metrics


@pytest.mark.parametrize(
    ("platform", "token", "failure", "reason"),
    [
        ("ios", IOS_TOKEN, {"status": 400, "reason": "TopicDisallowed"}, "TopicDisallowed"),
        ("ios", IOS_TOKEN, {"status": 413, "reason": "PayloadTooLarge"}, "PayloadTooLarge"),
        (
            "android",
            ANDROID_TOKEN,
            {"status": 400, "reason": "INVALID_ARGUMENT", "field": "message.data"},
            "INVALID_ARGUMENT",
        ),
        (
            "android",
            ANDROID_TOKEN,
            {"status": 403, "reason": "SENDER_ID_MISMATCH"},
            "SENDER_ID_MISMATCH",
        ),
    ],
)
async def test_other_errors_fail_the_delivery_but_keep_the_device(
    harness: Harness, platform: str, token: str, failure: dict[str, Any], reason: str
) -> None:
    await harness.register("phone", token, platform)
    await harness.fail_next(platform, **failure)
    await harness.send()
    await eventually(lambda: _settled(harness))
    assert await harness.delivery_statuses() == [("failed", reason)]
    assert await harness.device_ids() == ["phone"]
    metrics = await _metrics(harness)
    assert _sample("failed", platform, reason) in metrics
    assert "tern_push_invalid_token_total{" not in metrics  # the token is kept: not counted


async def test_a_reregistered_token_survives_a_late_dead_token_answer(harness: Harness) -> None:
    """The device got a new token while the old one was being refused: keep the new one."""
    await harness.register("phone", "invalid-old-token", "ios")
    await harness.send()
    await eventually(lambda: _settled(harness))
    assert await harness.device_ids() == []
    await harness.register("phone", IOS_TOKEN, "ios")
    await harness.send(idempotency_key="k-2")
    await eventually(lambda: _settled(harness))
    assert await harness.device_ids() == ["phone"]
    assert [p["token"] for p in await harness.received()] == [IOS_TOKEN]
