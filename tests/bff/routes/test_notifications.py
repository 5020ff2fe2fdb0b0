"""The phone's inbox and push token through the BFF, against a real notifications service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from bff.app import create_app as create_bff
from services.notifications.app import create_app as create_notifications
from services.notifications.settings import NotificationsSettings
from tests.support.apps import running_app, service_headers
from tests.support.bff_accounts import bearer, bff_settings, sign_up
from tests.support.servers import serve_app
from tests.support.settings import make_settings


@dataclass
class Phones:
    """The BFF (in-process) and the notifications service behind it (on a loopback port)."""

    bff: httpx.AsyncClient
    service: httpx.AsyncClient

    async def send(self, user_id: str, key: str) -> str:
        """Another service notifies `user_id`; the new notification's id."""
        response = await self.service.post(
            "/internal/v1/send",
            json={"title": f"Job {key} done", "idempotency_key": key},
            headers=service_headers("notifications", user_id),
        )
        assert response.status_code == 202, response.text
        return str(response.json()["notification_id"])

    async def devices(self, user_id: str) -> list[str]:
        response = await self.service.get(
            "/internal/v1/devices", headers=service_headers("notifications", user_id)
        )
        return [d["device_id"] for d in response.json()["items"]]


@pytest.fixture
async def phones(tmp_path: Path) -> AsyncIterator[Phones]:
    settings = make_settings(
        NotificationsSettings, tmp_path / "notifications", fcm_enabled=False, apns_enabled=False
    )
    async with serve_app(create_notifications(settings)) as url:
        bff = create_bff(bff_settings(tmp_path / "bff", notifications_url=url))
        async with running_app(bff) as client, httpx.AsyncClient(base_url=url) as service:
            yield Phones(client, service)


async def _user(phones: Phones, email: str, device_id: str) -> tuple[str, dict[str, str]]:
    tokens = await sign_up(phones.bff, email=email, device_id=device_id)
    return str(tokens["user"]["id"]), bearer(tokens)


async def test_deleting_a_push_token_stops_pushes_to_that_device_only_for_its_owner(
    phones: Phones,
) -> None:
    ada, ada_auth = await _user(phones, "ada@example.com", "device-1")
    _, bob_auth = await _user(phones, "bob@example.com", "device-2")
    token = {"token": "fcm-bff-delete-1", "platform": "android"}
    registered = await phones.bff.put(
        "/api/v1/devices/phone-1/push-token", json=token, headers=ada_auth
    )
    assert registered.status_code == 200, registered.text

    # Bob names Ada's device id: he reaches only his own devices, and has none by that name.
    theirs = await phones.bff.delete("/api/v1/devices/phone-1/push-token", headers=bob_auth)
    assert (theirs.status_code, theirs.json()["error"]["code"]) == (404, "DEVICE_NOT_FOUND")
    assert await phones.devices(ada) == ["phone-1"]

    deleted = await phones.bff.delete("/api/v1/devices/phone-1/push-token", headers=ada_auth)
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert await phones.devices(ada) == []
    sent = await phones.service.post(
        "/internal/v1/send",
        json={"title": "Model ready", "idempotency_key": "after-delete"},
        headers=service_headers("notifications", ada),
    )
    assert sent.json()["deliveries"] == 0  # nothing goes to the forgotten device
    again = await phones.bff.delete("/api/v1/devices/phone-1/push-token", headers=ada_auth)
    assert again.status_code == 404
    unauthenticated = await phones.bff.delete("/api/v1/devices/phone-1/push-token")
    assert unauthenticated.status_code == 401


async def test_marking_many_read_by_ids_touches_only_the_callers_notifications(
    phones: Phones,
) -> None:
    ada, ada_auth = await _user(phones, "ada@example.com", "device-1")
    bob, bob_auth = await _user(phones, "bob@example.com", "device-2")
    ids = [await phones.send(ada, f"a{i}") for i in range(3)]
    bobs = await phones.send(bob, "b0")

    read = await phones.bff.post(
        "/api/v1/notifications/read", json={"ids": [ids[0], ids[1], bobs]}, headers=ada_auth
    )
    assert read.status_code == 200, read.text
    assert read.json() == {"updated": 2, "unread": 1}  # Bob's id is not Ada's to mark
    again = await phones.bff.post(
        "/api/v1/notifications/read", json={"ids": [ids[0]]}, headers=ada_auth
    )
    assert again.json() == {"updated": 0, "unread": 1}  # already read: nothing changes
    listed = await _items(phones, ada_auth)
    assert {n["id"]: n["read_at"] is not None for n in listed} == {
        ids[0]: True,
        ids[1]: True,
        ids[2]: False,
    }
    bob_count = await phones.bff.get("/api/v1/notifications/unread-count", headers=bob_auth)
    assert bob_count.json() == {"unread": 1}
    both = await phones.bff.post(
        "/api/v1/notifications/read", json={"ids": [ids[2]], "all": True}, headers=ada_auth
    )
    assert (both.status_code, both.json()["error"]["code"]) == (422, "IDS_OR_ALL_REQUIRED")


async def test_the_unread_filter_pages_through_unread_notifications_only(
    phones: Phones,
) -> None:
    ada, auth = await _user(phones, "ada@example.com", "device-1")
    ids = [await phones.send(ada, f"n{i}") for i in range(5)]  # ids[4] is the newest
    read = await phones.bff.post(
        "/api/v1/notifications/read", json={"ids": [ids[4], ids[2]]}, headers=auth
    )
    assert read.json() == {"updated": 2, "unread": 3}

    first = await phones.bff.get(
        "/api/v1/notifications", params={"unread": "true", "limit": 2}, headers=auth
    )
    assert first.status_code == 200, first.text
    assert [n["id"] for n in first.json()["items"]] == [ids[3], ids[1]]
    cursor = first.json()["next_cursor"]
    assert cursor
    rest = await phones.bff.get(
        "/api/v1/notifications",
        params={"unread": "true", "limit": 2, "cursor": cursor},
        headers=auth,
    )
    assert [n["id"] for n in rest.json()["items"]] == [ids[0]]
    assert rest.json()["next_cursor"] is None
    everything = await _items(phones, auth)
    assert [n["id"] for n in everything] == ids[::-1]  # without the filter: all, newest first


async def _items(phones: Phones, auth: dict[str, str]) -> list[dict[str, Any]]:
    response = await phones.bff.get("/api/v1/notifications", headers=auth)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_graphql_viewer_lists_unread_notifications_only_when_asked(
    phones: Phones,
) -> None:
    ada, auth = await _user(phones, "ada@example.com", "device-1")
    ids = [await phones.send(ada, f"g{i}") for i in range(3)]
    await phones.bff.post("/api/v1/notifications/read", json={"ids": [ids[1]]}, headers=auth)
    query = (
        "{ viewer { all: notifications { items { id } }"
        " unread: notifications(unread: true) { items { id } } } }"
    )

    response = await phones.bff.post("/graphql", json={"query": query}, headers=auth)

    viewer = response.json()["data"]["viewer"]
    assert [n["id"] for n in viewer["all"]["items"]] == ids[::-1]
    assert [n["id"] for n in viewer["unread"]["items"]] == [ids[2], ids[0]]
