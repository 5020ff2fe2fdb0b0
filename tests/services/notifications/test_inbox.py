"""The inbox: mark one, many or all read; the unread count; the change feed."""

from __future__ import annotations

from typing import Any

from tests.support.notifications_api import USER_A, USER_B, Harness


async def _sent(h: Harness, n: int, user: str = USER_A) -> list[str]:
    return [
        (await h.send(user=user, idempotency_key=f"inbox-{i}")).json()["notification_id"]
        for i in range(n)
    ]


async def _unread(h: Harness, user: str = USER_A) -> int:
    response = await h.client.get(
        "/internal/v1/notifications/unread-count", headers=h.headers(user)
    )
    count: int = response.json()["unread"]
    return count


async def _read(h: Harness, body: dict[str, Any], user: str = USER_A) -> Any:
    return await h.client.post(
        "/internal/v1/notifications/read", json=body, headers=h.headers(user)
    )


async def test_mark_one_many_and_all_read(harness: Harness) -> None:
    h = harness
    ids = await _sent(h, 5)
    await _sent(h, 2, user=USER_B)
    assert await _unread(h) == 5

    one = await h.client.post(f"/internal/v1/notifications/{ids[0]}/read", headers=h.headers())
    assert one.status_code == 200
    assert one.json()["read_at"] is not None
    assert await _unread(h) == 4

    many = await _read(h, {"ids": ids[0:3]})
    assert many.json() == {"updated": 2, "unread": 2}  # ids[0] was read already

    everything = await _read(h, {"all": True})
    assert everything.json() == {"updated": 2, "unread": 0}
    assert await _unread(h, USER_B) == 2  # B's inbox is untouched
    inbox = (await h.client.get("/internal/v1/notifications", headers=h.headers())).json()
    assert all(n["read_at"] for n in inbox["items"])


async def test_another_users_notification_is_not_found(harness: Harness) -> None:
    h = harness
    [theirs] = await _sent(h, 1, user=USER_B)
    response = await h.client.post(f"/internal/v1/notifications/{theirs}/read", headers=h.headers())
    assert (response.status_code, response.json()["error"]["code"]) == (
        404,
        "NOTIFICATION_NOT_FOUND",
    )
    ignored = await _read(h, {"ids": [theirs]})
    assert ignored.json() == {"updated": 0, "unread": 0}
    assert await _unread(h, USER_B) == 1


async def test_mark_read_needs_ids_or_all(harness: Harness) -> None:
    for body in ({}, {"ids": [], "all": False}):
        response = await _read(harness, body)
        assert (response.status_code, response.json()["error"]["code"]) == (
            422,
            "IDS_OR_ALL_REQUIRED",
        )


async def test_the_change_feed_holds_the_latest_state_of_each_entity_in_order(
    harness: Harness,
) -> None:
    h = harness
    await h.register("phone", "fcm-feed-token", "android")
    ids = await _sent(h, 2)
    await h.client.post(f"/internal/v1/notifications/{ids[1]}/read", headers=h.headers())
    await h.client.put("/internal/v1/preferences", json={"hourly_cap": 3}, headers=h.headers())
    await h.client.put("/internal/v1/devices/phone/topics/news", headers=h.headers())
    await h.client.delete("/internal/v1/devices/phone", headers=h.headers())
    await _sent(h, 1, user=USER_B)

    feed = (await h.client.get("/internal/v1/feed", headers=h.headers())).json()
    # The device moved on to its tombstone, the read notification to its read state.
    assert [(e["seq"], e["kind"], e["id"], e["op"]) for e in feed["entries"]] == [
        (2, "notification", ids[0], "upsert"),
        (4, "notification", ids[1], "upsert"),
        (5, "push_preferences", USER_A, "upsert"),
        (7, "topic_subscription", "phone/news", "delete"),
        (8, "device", "phone", "delete"),
    ]
    assert feed["entries"][0]["data"]["read_at"] is None
    assert feed["entries"][1]["data"]["read_at"] is not None
    assert feed["entries"][2]["data"]["hourly_cap"] == 3
    assert (feed["next_since"], feed["has_more"], feed["reset"]) == (8, False, False)

    first = (await h.client.get("/internal/v1/feed?since=2&limit=2", headers=h.headers())).json()
    assert [e["seq"] for e in first["entries"]] == [4, 5]
    assert (first["next_since"], first["has_more"]) == (5, True)
    rest = (
        await h.client.get(f"/internal/v1/feed?since={first['next_since']}", headers=h.headers())
    ).json()
    assert [e["seq"] for e in rest["entries"]] == [7, 8]
    other = (await h.client.get("/internal/v1/feed", headers=h.headers(USER_B))).json()
    assert [(e["seq"], e["kind"]) for e in other["entries"]] == [(1, "notification")]
    bad = await h.client.get("/internal/v1/feed?limit=100000", headers=h.headers())
    assert bad.status_code == 422
