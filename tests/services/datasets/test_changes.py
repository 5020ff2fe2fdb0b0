"""The change feed: ordered upserts and tombstones per user, stable under concurrent writes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from services.datasets.app import create_app
from tests.support.apps import running_app
from tests.support.dataset_files import sample_csv
from tests.support.datasets_api import ALICE, BOB, DatasetsApi, SettingsFactory


@pytest.fixture
async def feed_api(
    settings_for: SettingsFactory, database_url: str | None
) -> AsyncIterator[DatasetsApi]:
    async with running_app(create_app(settings_for(database_url=database_url))) as client:
        yield DatasetsApi(client)


async def test_uploads_labels_and_deletes_appear_in_order(feed_api: DatasetsApi) -> None:
    api = feed_api
    first = await api.upload(sample_csv(5), filename="first.csv")
    second = await api.upload(sample_csv(5), filename="second.csv")
    await api.put_labels(first["dataset_id"], [{"row_id": 0, "label": "cat"}])

    feed = await api.changes()

    assert [(c["kind"], c["op"], c["dataset_id"]) for c in feed["changes"]] == [
        ("dataset", "upsert", first["dataset_id"]),
        ("dataset", "upsert", second["dataset_id"]),
        ("label", "upsert", first["dataset_id"]),
    ]
    seqs = [c["seq"] for c in feed["changes"]]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    assert feed["changes"][0]["dataset"]["name"] == "first"
    assert feed["changes"][2]["label"]["label"] == "cat"
    assert feed["next_since"] == seqs[-1] and feed["has_more"] is False

    await api.upload(sample_csv(7), dataset_id=second["dataset_id"])
    await api.delete(f"/datasets/{first['dataset_id']}")
    delta = await api.changes(since=feed["next_since"])

    assert [(c["kind"], c["op"], c["dataset_id"]) for c in delta["changes"]] == [
        ("dataset", "upsert", second["dataset_id"]),
        ("dataset", "delete", first["dataset_id"]),
    ]
    assert delta["changes"][0]["dataset"]["latest_version"] == 2
    assert delta["changes"][1]["dataset"] is None
    # From scratch, each entity appears once in its latest state; the deleted dataset's labels
    # are covered by its tombstone.
    full = await api.changes()
    assert [(c["op"], c["dataset_id"]) for c in full["changes"]] == [
        ("upsert", second["dataset_id"]),
        ("delete", first["dataset_id"]),
    ]


async def test_the_feed_pages_and_stays_per_user(feed_api: DatasetsApi) -> None:
    api = feed_api
    version = await api.upload(sample_csv(10))
    await api.put_labels(version["dataset_id"], [{"row_id": n, "label": "x"} for n in range(5)])

    collected: list[dict[str, Any]] = []
    since = 0
    while True:
        page = await api.changes(since=since, limit=2)
        collected += page["changes"]
        since = page["next_since"]
        if not page["has_more"]:
            break

    assert len(collected) == 6
    assert [c["row_id"] for c in collected[1:]] == [0, 1, 2, 3, 4]
    assert (await api.changes(user=BOB))["changes"] == []
    assert (await api.changes(since=since))["changes"] == []


async def test_a_since_past_the_newest_change_asks_for_a_full_sync(feed_api: DatasetsApi) -> None:
    await feed_api.upload(sample_csv(3))

    response = await feed_api.get("/changes", since=1000)

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "CHANGES_SINCE_AHEAD"
    assert (await feed_api.get("/changes", since=-1)).status_code == 422


async def test_a_reader_polling_during_concurrent_writes_misses_nothing(
    feed_api: DatasetsApi,
) -> None:
    """Many label batches commit concurrently while a reader follows the feed. Every row is
    written once, so a change the reader skipped would never come back: what it accumulated
    must equal the final state."""
    api = feed_api
    writers, rounds, rows_per_write = 20, 3, 2
    dataset_id = (await api.upload(sample_csv(writers * rounds * rows_per_write)))["dataset_id"]
    writers_done = asyncio.Event()
    replica: dict[tuple[str, Any], Any] = {}

    def apply(changes: list[dict[str, Any]]) -> None:
        for change in changes:
            key = (change["kind"], change["row_id"])
            replica[key] = change["label"]["label"] if change["label"] else change["op"]

    async def write(writer: int) -> None:
        for round_ in range(rounds):
            first = (round_ * writers + writer) * rows_per_write
            labels = [{"row_id": n, "label": f"w{writer}"} for n in range(first, first + 2)]
            response = await api.put_labels(dataset_id, labels)
            assert response.status_code == 200, response.text
            assert response.json()["conflicts"] == []

    async def follow() -> None:
        since = 0
        while True:
            finished = writers_done.is_set()
            page = await api.changes(since=since, limit=5)
            apply(page["changes"])
            since = page["next_since"]
            if finished and not page["has_more"]:
                return
            await asyncio.sleep(0)

    reader = asyncio.create_task(follow())
    await asyncio.gather(*(write(writer) for writer in range(writers)))
    writers_done.set()
    await reader

    full = await api.changes(limit=200)
    assert not full["has_more"]
    final = {
        (c["kind"], c["row_id"]): c["label"]["label"] if c["label"] else c["op"]
        for c in full["changes"]
    }
    assert len(final) == 1 + writers * rounds * rows_per_write
    assert replica == final


async def test_acting_user_decides_whose_feed(feed_api: DatasetsApi) -> None:
    await feed_api.upload(sample_csv(3), user=ALICE)
    await feed_api.upload(sample_csv(3), user=BOB)

    alice = await feed_api.changes(user=ALICE)
    bob = await feed_api.changes(user=BOB)

    assert len(alice["changes"]) == len(bob["changes"]) == 1
    assert alice["changes"][0]["dataset"]["owner_id"] == ALICE
    assert bob["changes"][0]["dataset"]["owner_id"] == BOB
