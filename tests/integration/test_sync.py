"""Delta sync and the offline queue, as phones use them, over the whole running system."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from infra.local.stack import Stack
from tests.integration.flows import Phone, wait_for_pushes

CSV = b"x,y,label\n" + b"".join(f"{i},{i * 2},{i % 2}\n".encode() for i in range(30))


@pytest.fixture
def bff(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.config.bff_url, timeout=30.0) as client:
        yield client


def sync_all(phone: Phone, cursor: str | None = None, **body: Any) -> tuple[dict[str, Any], str]:
    """Every change since `cursor`, a page at a time, as a phone merges them: per kind, the
    latest state by id, and the ids deleted; and the cursor to keep."""
    merged: dict[str, Any] = {}
    pages = 0
    while True:
        answer = phone.post("/api/v1/sync", json={"cursor": cursor, **body})
        assert answer.status_code == 200, answer.text
        data = answer.json()
        assert data["unavailable"] == []
        for kind, changes in data["changes"].items():
            entry = merged.setdefault(kind, {"upserts": {}, "deletes": set()})
            for item in changes["upserts"]:
                entry["upserts"][item["id"]] = item
                entry["deletes"].discard(item["id"])
            for gone in changes["deletes"]:
                entry["upserts"].pop(gone, None)
                entry["deletes"].add(gone)
        cursor = data["cursor"]
        pages += 1
        assert pages < 100
        if not data["has_more"]:
            return merged, cursor


def second_device(bff: httpx.Client, phone: Phone) -> Phone:
    """The same user, signed in on another device."""
    other = Phone.__new__(Phone)
    other.client, other.email, other.user_id = bff, phone.email, phone.user_id
    other.device_id = f"device-{uuid.uuid4().hex[:12]}"
    answer = bff.post(
        "/api/v1/auth/login",
        json={"email": phone.email, "password": "correct horse battery"},
        headers={"X-Device-ID": other.device_id},
    )
    assert answer.status_code == 200, answer.text
    other.access_token = answer.json()["access_token"]
    return other


def push(phone: Phone, *mutations: dict[str, Any]) -> list[dict[str, Any]]:
    answer = phone.post("/api/v1/sync/push", json={"mutations": list(mutations)})
    assert answer.status_code == 200, answer.text
    results: list[dict[str, Any]] = answer.json()["results"]
    return results


def test_a_first_sync_pages_through_everything_then_only_changes_come(
    stack: Stack, bff: httpx.Client
) -> None:
    phone = Phone(bff)
    phone.register_push_token("a1" * 32, "ios")
    version = phone.upload("iris.csv", CSV)
    prefs = phone.put("/api/v1/notification-preferences", json={"hourly_cap": 5})
    assert prefs.status_code == 200, prefs.text
    stranger = Phone(bff)
    stranger.upload("theirs.csv", CSV)

    everything, cursor = sync_all(phone, limit=2)

    dataset_id = version["dataset_id"]
    assert set(everything["datasets"]["upserts"]) == {dataset_id}
    assert set(everything["dataset_versions"]["upserts"]) == {f"{dataset_id}/1"}
    assert set(everything["devices"]["upserts"]) == {phone.device_id}
    assert everything["push_preferences"]["upserts"][phone.user_id]["data"]["hourly_cap"] == 5
    [session] = everything["sessions"]["upserts"].values()
    assert session["data"]["device_id"] == phone.device_id
    caught_up, same = sync_all(phone, cursor)
    assert caught_up == {}

    phone.put("/api/v1/notification-preferences", json={"hourly_cap": 7})
    delta, _ = sync_all(phone, same)

    assert list(delta) == ["push_preferences"]
    assert delta["push_preferences"]["upserts"][phone.user_id]["data"]["hourly_cap"] == 7
    theirs, _ = sync_all(stranger)
    assert dataset_id not in theirs["datasets"]["upserts"]


def test_a_sync_of_some_kinds_leaves_the_others_to_come(stack: Stack, bff: httpx.Client) -> None:
    phone = Phone(bff)
    phone.upload("iris.csv", CSV)

    only_sessions, cursor = sync_all(phone, entities=["sessions"])
    assert list(only_sessions) == ["sessions"]
    rest, _ = sync_all(phone, cursor)

    assert {"datasets", "dataset_versions"} <= set(rest)
    assert "sessions" not in rest
    refused = phone.post("/api/v1/sync", json={"entities": ["passwords"]})
    assert (refused.status_code, refused.json()["error"]["code"]) == (422, "UNKNOWN_ENTITY")
    garbled = phone.post("/api/v1/sync", json={"cursor": "not-a-cursor"})
    assert (garbled.status_code, garbled.json()["error"]["code"]) == (400, "INVALID_CURSOR")


def test_the_offline_queue_applies_once_merges_labels_and_resolves_conflicts(
    stack: Stack, bff: httpx.Client
) -> None:
    phone = Phone(bff)
    tablet = second_device(bff, phone)
    version = phone.upload("iris.csv", CSV)
    label_id = f"{version['dataset_id']}/1/3"
    first = {
        "mutation_id": "m-1",
        "entity": "labels",
        "op": "upsert",
        "id": label_id,
        "data": {"label": "cat", "note": None},
        "base_version": 0,
    }

    [applied] = push(phone, first)
    assert (applied["status"], applied["server_version"]) == ("applied", 1)
    stack.kill("bff")  # a crash: what was applied stays applied, a replay stays a replay
    stack.restart("bff")
    assert [r["status"] for r in push(phone, first, first)] == ["duplicate", "duplicate"]
    [reused] = push(phone, {**first, "data": {"label": "dog", "note": None}})
    assert (reused["status"], reused["error"]["code"]) == ("rejected", "MUTATION_ID_REUSED")

    # The tablet adds a note; the phone, still on revision 1, renames the label: both stay.
    base = {"label": "cat", "note": None}
    note = {**first, "mutation_id": "t-1", "data": {"note": "blurry"}, "base": base}
    assert push(tablet, {**note, "base_version": 1})[0]["status"] == "applied"
    rename = {**first, "mutation_id": "m-2", "data": {"label": "dog"}, "base": base}
    [merged] = push(phone, {**rename, "base_version": 1})
    assert merged["status"] == "applied"
    assert merged["server_state"] | {"updated_at": None} == {
        **merged["server_state"],
        "label": "dog",
        "note": "blurry",
        "revision": 3,
        "updated_at": None,
    }
    # Both changed the label from "cat": the second to arrive gets the server's state back.
    clash = {**first, "mutation_id": "t-2", "data": {"label": "bird"}, "base": base}
    [conflict] = push(tablet, {**clash, "base_version": 1})
    assert conflict["status"] == "conflict"
    assert conflict["server_state"]["label"] == "dog"
    assert conflict["server_version"] == 3

    synced, _ = sync_all(tablet, entities=["labels"])
    assert synced["labels"]["upserts"][label_id]["data"]["label"] == "dog"


def test_the_offline_queue_keeps_order_and_refuses_what_the_server_owns(
    stack: Stack, bff: httpx.Client
) -> None:
    phone = Phone(bff)
    results = push(
        phone,
        {
            "mutation_id": "p-1",
            "entity": "push_preferences",
            "op": "upsert",
            "id": "me",
            "data": {"muted_categories": ["promo"]},
        },
        {"mutation_id": "p-2", "entity": "models", "op": "upsert", "id": "x", "data": {}},
        {"mutation_id": "p-3", "entity": "training_jobs", "op": "upsert", "id": "x"},
        {"mutation_id": "p-4", "entity": "notifications", "op": "read", "id": str(uuid.uuid4())},
    )

    assert [(r["status"], (r["error"] or {}).get("code")) for r in results] == [
        ("applied", None),
        ("rejected", "SERVER_OWNED_ENTITY"),
        ("rejected", "UNSUPPORTED_OP"),
        ("rejected", "NOTIFICATION_NOT_FOUND"),
    ]
    assert results[0]["server_state"]["muted_categories"] == ["promo"]
    too_many = [
        {"mutation_id": f"n-{i}", "entity": "datasets", "op": "delete", "id": str(uuid.uuid4())}
        for i in range(101)
    ]
    refused = phone.post("/api/v1/sync/push", json={"mutations": too_many})
    assert (refused.status_code, refused.json()["error"]["code"]) == (422, "TOO_MANY_MUTATIONS")
    anonymous = bff.post(
        "/api/v1/sync/push",
        json={"mutations": too_many[:1]},
        headers={"Authorization": phone.headers["Authorization"]},
    )
    assert anonymous.json()["error"]["code"] == "DEVICE_ID_REQUIRED"


def test_a_burst_of_writes_pokes_the_users_other_device_once(
    stack: Stack, bff: httpx.Client
) -> None:
    phone = Phone(bff)
    phone_token, tablet_token = uuid.uuid4().hex * 2, uuid.uuid4().hex * 2
    phone.register_push_token(phone_token, "ios")
    tablet = second_device(bff, phone)
    tablet.register_push_token(tablet_token, "ios")
    fake_push = stack.config.url("fake_push")
    settled = wait_for_pushes(
        fake_push, phone_token, 1, pokes=True
    )  # the tablet signing in poked it
    time.sleep(1.5)  # past the debounce of the tablet's own writes
    before = len(wait_for_pushes(fake_push, phone_token, 10**6, timeout_s=0, pokes=True))
    assert before >= len(settled)
    tablet_before = len(wait_for_pushes(fake_push, tablet_token, 10**6, timeout_s=0, pokes=True))

    started = time.monotonic()
    for cap in range(5, 10):
        assert tablet.put("/api/v1/notification-preferences", json={"hourly_cap": cap}).is_success
    [poke] = wait_for_pushes(fake_push, phone_token, before + 1, pokes=True)[before:]
    assert time.monotonic() - started < 2.0  # within 2 s of the first write of the burst

    assert poke["payload"] == {"aps": {"content-available": 1}, "tern": "sync"}  # no user data
    assert poke["headers"]["apns-collapse-id"] == "tern-sync"
    time.sleep(1.5)
    assert (
        len(wait_for_pushes(fake_push, phone_token, 10**6, timeout_s=0, pokes=True)) == before + 1
    )
    # The device that made the changes is not poked by them.
    assert (
        len(wait_for_pushes(fake_push, tablet_token, 10**6, timeout_s=0, pokes=True))
        == tablet_before
    )


def test_a_service_that_is_down_holds_back_only_its_own_kinds(
    stack: Stack, bff: httpx.Client
) -> None:
    phone = Phone(bff)
    _, cursor = sync_all(phone)
    version = phone.upload("later.csv", CSV)
    assert phone.put("/api/v1/notification-preferences", json={"hourly_cap": 9}).is_success

    stack.kill("datasets")
    try:
        answer = phone.post("/api/v1/sync", json={"cursor": cursor})
        assert answer.status_code == 200, answer.text
        body = answer.json()
    finally:
        stack.restart("datasets")

    assert body["unavailable"] == ["datasets", "dataset_versions", "labels"]
    assert body["changes"]["push_preferences"]["upserts"][0]["data"]["hourly_cap"] == 9
    back, _ = sync_all(phone, body["cursor"])
    assert set(back) == {"datasets", "dataset_versions"}  # what waited, and nothing again
    assert list(back["datasets"]["upserts"]) == [version["dataset_id"]]


def test_a_sync_answer_is_compact_and_selectable_like_every_read(
    stack: Stack, bff: httpx.Client
) -> None:
    phone = Phone(bff)
    plain = phone.post("/api/v1/sync", json={})
    compact = bff.post(
        "/api/v1/sync?fields=cursor,has_more",
        json={},
        headers={**phone.headers, "accept": "application/vnd.tern.compact+json"},
    )

    assert compact.status_code == 200, compact.text
    assert compact.headers["content-type"].startswith("application/vnd.tern.compact+json")
    assert "cursor" not in compact.text and len(compact.content) < len(plain.content)
    selected = bff.post("/api/v1/sync?fields=has_more", json={}, headers=phone.headers).json()
    assert selected == {"has_more": False}
