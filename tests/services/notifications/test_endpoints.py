"""Devices, inbox, limits and isolation between users on the internal API."""

from __future__ import annotations

from tests.support.apps import service_headers
from tests.support.notifications_api import USER_A, USER_B, Harness

TOKEN = "ef56" * 16


async def test_reregistering_a_device_updates_it_in_place(harness: Harness) -> None:
    first = (await harness.register("iphone", TOKEN, "ios")).json()
    second = (await harness.register("iphone", "ef57" * 16, "ios")).json()
    assert second["created_at"] == first["created_at"]
    assert second["updated_at"] >= first["updated_at"]
    assert await harness.device_ids() == ["iphone"]


async def test_a_token_registered_by_another_user_moves_to_them(harness: Harness) -> None:
    await harness.register("a-phone", TOKEN, "ios", user=USER_A)
    await harness.register("b-phone", TOKEN, "ios", user=USER_B)
    assert await harness.device_ids(USER_A) == []
    assert await harness.device_ids(USER_B) == ["b-phone"]
    assert (await harness.send(user=USER_A)).json()["deliveries"] == 0


async def test_users_see_only_their_own_devices_and_inbox(harness: Harness) -> None:
    await harness.register("a-phone", TOKEN, "ios", user=USER_A)
    sent = (await harness.send(user=USER_A)).json()
    b = harness.headers(USER_B)
    assert await harness.device_ids(USER_B) == []
    inbox_b = await harness.client.get("/internal/v1/notifications", headers=b)
    assert inbox_b.json() == {"items": [], "next_cursor": None}
    deleted = await harness.client.delete("/internal/v1/devices/a-phone", headers=b)
    assert (deleted.status_code, deleted.json()["error"]["code"]) == (404, "DEVICE_NOT_FOUND")
    assert await harness.device_ids(USER_A) == ["a-phone"]
    inbox_a = await harness.client.get("/internal/v1/notifications", headers=harness.headers())
    assert [n["id"] for n in inbox_a.json()["items"]] == [sent["notification_id"]]
    # The same idempotency key is B's own: a new notification, not A's.
    sent_b = (await harness.send(user=USER_B)).json()
    assert (sent_b["duplicate"], sent_b["deliveries"]) == (False, 0)


async def test_unregistering_a_device(harness: Harness) -> None:
    await harness.register("iphone", TOKEN, "ios")
    response = await harness.client.delete("/internal/v1/devices/iphone", headers=harness.headers())
    assert response.status_code == 204
    assert await harness.device_ids() == []


async def test_payload_too_large_is_refused_before_anything_is_saved(harness: Harness) -> None:
    await harness.register("iphone", TOKEN, "ios")
    data = {f"k{i}": "x" * 90 for i in range(48)}
    response = await harness.send(data=data)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "PAYLOAD_TOO_LARGE"
    assert error["details"]["limit"] == 4096
    inbox = await harness.client.get("/internal/v1/notifications", headers=harness.headers())
    assert inbox.json()["items"] == []
    assert await harness.delivery_statuses() == []


async def test_bad_sends_name_the_problem(harness: Harness) -> None:
    reserved = await harness.send(data={"aps": "x"})
    assert (reserved.status_code, reserved.json()["error"]["code"]) == (422, "RESERVED_DATA_KEY")
    empty = await harness.send(title=None)
    assert (empty.status_code, empty.json()["error"]["code"]) == (422, "TITLE_OR_BODY_REQUIRED")
    # 64 characters pass the contract, but APNs counts bytes (at most 64).
    wide = await harness.send(collapse_key="é" * 64)
    assert (wide.status_code, wide.json()["error"]["code"]) == (422, "COLLAPSE_KEY_TOO_LONG")
    assert (await harness.send(collapse_key="e" * 64)).status_code == 202
    no_key = await harness.client.post(
        "/internal/v1/send", json={"title": "x"}, headers=harness.headers()
    )
    assert (no_key.status_code, no_key.json()["error"]["code"]) == (422, "VALIDATION_FAILED")


async def test_device_count_is_limited(harness: Harness) -> None:
    limit = harness.app.state.runtime.settings.max_devices_per_user
    for i in range(limit):
        await harness.register(f"d{i}", f"token-{i:04d}-xxxx", "android")
    response = await harness.client.put(
        "/internal/v1/devices/one-more",
        json={"token": "token-extra-xxxx", "platform": "android"},
        headers=harness.headers(),
    )
    assert (response.status_code, response.json()["error"]["code"]) == (409, "TOO_MANY_DEVICES")


async def test_lists_are_cursor_paginated(harness: Harness) -> None:
    for i in range(5):
        await harness.send(idempotency_key=f"k-{i}", title=f"n{i}")
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = (
            await harness.client.get(
                "/internal/v1/notifications", params=params, headers=harness.headers()
            )
        ).json()
        seen += [item["title"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["n4", "n3", "n2", "n1", "n0"]
    bad = await harness.client.get(
        "/internal/v1/notifications", params={"cursor": "nope"}, headers=harness.headers()
    )
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "INVALID_CURSOR")


async def test_service_token_is_required_and_must_be_for_notifications(harness: Harness) -> None:
    missing = await harness.client.get("/internal/v1/devices")
    assert (missing.status_code, missing.json()["error"]["code"]) == (401, "SERVICE_TOKEN_REQUIRED")
    wrong = await harness.client.get(
        "/internal/v1/devices", headers=service_headers("training", USER_A)
    )
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (
        403,
        "SERVICE_TOKEN_WRONG_AUDIENCE",
    )
    send = await harness.client.post(
        "/internal/v1/send", json={"title": "x", "idempotency_key": "k"}
    )
    assert send.status_code == 401
