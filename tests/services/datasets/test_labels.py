"""Labels: bulk upsert with revisions, conflicts answered per row, paging, limits."""

from __future__ import annotations

from typing import Any

from services.datasets.app import create_app
from tests.support.apps import running_app
from tests.support.dataset_files import sample_csv
from tests.support.datasets_api import DatasetsApi, SettingsFactory


async def _dataset(api: DatasetsApi, rows: int = 10) -> str:
    version = await api.upload(sample_csv(rows))
    dataset_id: str = version["dataset_id"]
    return dataset_id


async def test_bulk_upsert_sets_labels_with_revision_1(api: DatasetsApi) -> None:
    dataset_id = await _dataset(api)

    response = await api.put_labels(
        dataset_id,
        [{"row_id": 0, "label": "cat", "note": "blurry"}, {"row_id": 4, "label": "dog"}],
    )

    assert response.status_code == 200
    body = response.json()
    assert body["conflicts"] == []
    assert [(a["row_id"], a["label"], a["note"], a["revision"]) for a in body["applied"]] == [
        (0, "cat", "blurry", 1),
        (4, "dog", None, 1),
    ]
    listed = (await api.get(f"/datasets/{dataset_id}/versions/1/labels")).json()
    assert [(item["row_id"], item["label"]) for item in listed["items"]] == [(0, "cat"), (4, "dog")]


async def test_a_stale_write_is_a_conflict_and_not_applied(api: DatasetsApi) -> None:
    dataset_id = await _dataset(api)
    await api.put_labels(dataset_id, [{"row_id": 1, "label": "cat"}])
    # Phone A edits on top of revision 1; phone B, offline, still thinks the row is unlabelled.
    await api.put_labels(dataset_id, [{"row_id": 1, "label": "lion", "base_revision": 1}])

    response = await api.put_labels(
        dataset_id,
        [{"row_id": 1, "label": "tiger", "base_revision": 0}, {"row_id": 2, "label": "ant"}],
    )

    body = response.json()
    assert response.status_code == 200
    assert [a["row_id"] for a in body["applied"]] == [2]
    (conflict,) = body["conflicts"]
    assert conflict["code"] == "LABEL_CONFLICT"
    assert conflict["row_id"] == 1
    assert conflict["base_revision"] == 0
    assert (conflict["current"]["label"], conflict["current"]["revision"]) == ("lion", 2)
    resolved = await api.put_labels(
        dataset_id, [{"row_id": 1, "label": "tiger", "base_revision": 2}]
    )
    assert resolved.json()["applied"][0]["revision"] == 3


async def test_a_replayed_write_is_answered_as_applied(api: DatasetsApi) -> None:
    dataset_id = await _dataset(api)
    write = [{"row_id": 3, "label": "cat", "note": "n"}]

    first = (await api.put_labels(dataset_id, write)).json()
    replay = (await api.put_labels(dataset_id, write)).json()

    assert replay["conflicts"] == []
    assert replay["applied"] == first["applied"]


async def test_clearing_a_label_keeps_its_revision_counting(api: DatasetsApi) -> None:
    dataset_id = await _dataset(api)
    await api.put_labels(dataset_id, [{"row_id": 0, "label": "cat"}])

    cleared = (
        await api.put_labels(dataset_id, [{"row_id": 0, "label": None, "base_revision": 1}])
    ).json()

    assert cleared["applied"][0]["label"] is None
    assert cleared["applied"][0]["revision"] == 2
    listed = (await api.get(f"/datasets/{dataset_id}/versions/1/labels")).json()
    assert listed["items"] == []


async def test_labels_are_paginated_by_row(api: DatasetsApi) -> None:
    dataset_id = await _dataset(api, rows=20)
    await api.put_labels(dataset_id, [{"row_id": n, "label": f"l{n}"} for n in range(0, 20, 2)])

    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await api.get(f"/datasets/{dataset_id}/versions/1/labels", **params)).json()
        seen += [item["row_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert seen == list(range(0, 20, 2))


async def test_bad_label_batches_name_the_problem(settings_for: SettingsFactory) -> None:
    async with running_app(create_app(settings_for(max_labels_per_batch=3))) as client:
        api = DatasetsApi(client)
        dataset_id = await _dataset(api, rows=5)

        too_many = await api.put_labels(dataset_id, [{"row_id": n, "label": "x"} for n in range(4)])
        duplicate = await api.put_labels(
            dataset_id, [{"row_id": 1, "label": "x"}, {"row_id": 1, "label": "y"}]
        )
        outside = await api.put_labels(dataset_id, [{"row_id": 7, "label": "x"}])
        empty_label = await api.put_labels(dataset_id, [{"row_id": 0, "label": ""}])
        long_label = await api.put_labels(dataset_id, [{"row_id": 0, "label": "x" * 201}])
        no_version = await api.put_labels(dataset_id, [{"row_id": 0, "label": "x"}], version=2)
        nothing_applied = (await api.get(f"/datasets/{dataset_id}/versions/1/labels")).json()

    assert too_many.status_code == 413
    assert too_many.json()["error"]["code"] == "TOO_MANY_LABELS"
    assert duplicate.status_code == 422
    assert duplicate.json()["error"]["code"] == "DUPLICATE_ROW_ID"
    assert duplicate.json()["error"]["details"]["row_ids"] == [1]
    assert outside.status_code == 422
    assert outside.json()["error"]["code"] == "ROW_ID_OUT_OF_RANGE"
    assert outside.json()["error"]["details"]["row_ids"] == [7]
    assert empty_label.status_code == long_label.status_code == 422
    assert no_version.status_code == 404
    assert nothing_applied["items"] == []
