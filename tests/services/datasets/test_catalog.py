"""Listing a dataset's versions, reading a version (rows, stats) and soft-deleting a dataset."""

from __future__ import annotations

import statistics

import sqlalchemy as sa

from services.datasets.app import create_app
from services.datasets.tables import DatasetVersionRow
from tests.support.apps import running_app
from tests.support.dataset_files import sample_csv
from tests.support.datasets_api import BOB, DatasetsApi, SettingsFactory


async def test_versions_are_listed_newest_first_by_cursor_page(
    settings_for: SettingsFactory, database_url: str | None
) -> None:
    async with running_app(create_app(settings_for(database_url=database_url))) as client:
        await _list_versions_by_page(DatasetsApi(client))


async def _list_versions_by_page(api: DatasetsApi) -> None:
    first = await api.upload(sample_csv(3))
    dataset_id = first["dataset_id"]
    for rows in (4, 5, 6):
        await api.upload(sample_csv(rows), dataset_id=dataset_id)
    path = f"/datasets/{dataset_id}/versions"

    pages = []
    cursor = None
    while True:
        page = (await api.get(path, limit=3, **({"cursor": cursor} if cursor else {}))).json()
        pages.append([(v["version"], v["row_count"]) for v in page["items"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert pages == [[(4, 6), (3, 5), (2, 4)], [(1, 3)]]
    whole = (await api.get(path)).json()
    assert whole["next_cursor"] is None
    assert whole["items"][-1] == first
    bad = await api.get(path, cursor="bm90LW91cnM")
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "INVALID_CURSOR"


async def test_rows_come_by_cursor_page_with_column_selection(api: DatasetsApi) -> None:
    version = await api.upload(sample_csv(7))
    path = f"/datasets/{version['dataset_id']}/versions/1/rows"

    pages = []
    cursor = None
    while True:
        params = {"limit": 3, "columns": "name,id", **({"cursor": cursor} if cursor else {})}
        page = (await api.get(path, **params)).json()
        pages.append(page)
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert [p["row_ids"] for p in pages] == [[0, 1, 2], [3, 4, 5], [6]]
    assert pages[0]["columns"] == ["name", "id"]
    assert pages[0]["rows"][1] == ["name-1", 1]
    everything = (await api.get(path)).json()
    assert everything["columns"] == ["id", "name", "score", "active"]
    assert everything["rows"][3] == [3, "name-3", 4.5, True]


async def test_rows_of_a_large_file_span_row_groups(settings_for: SettingsFactory) -> None:
    settings = settings_for(upload_chunk_size_bytes=64 * 1024, parse_block_size_bytes=4096)
    async with running_app(create_app(settings)) as client:
        api = DatasetsApi(client)
        version = await api.upload(sample_csv(3000))
        rows_path = f"/datasets/{version['dataset_id']}/versions/1/rows"
        page = (await api.get(rows_path, limit=200, columns="id")).json()
        cursor = page["next_cursor"]
        for _ in range(6):
            page = (await api.get(rows_path, cursor=cursor, limit=200)).json()
            cursor = page["next_cursor"]

    assert page["row_ids"] == list(range(1200, 1400))
    assert [row[0] for row in page["rows"]] == list(range(1200, 1400))
    assert page["rows"][0] == [1200, "name-1200", 1800.0, False]


async def test_bad_row_requests_name_the_problem(api: DatasetsApi) -> None:
    version = await api.upload(sample_csv(3))
    path = f"/datasets/{version['dataset_id']}/versions/1/rows"

    unknown = await api.get(path, columns="id,nope,other")
    bad_cursor = await api.get(path, cursor="xyz")

    assert unknown.status_code == 422
    assert unknown.json()["error"]["code"] == "UNKNOWN_COLUMNS"
    assert unknown.json()["error"]["details"]["columns"] == ["nope", "other"]
    assert bad_cursor.status_code == 400


async def test_stats_are_stored_per_version(api: DatasetsApi) -> None:
    data = b"x,kind\n1,a\n2,b\n3,a\n,a\n10,c\n"
    version = await api.upload(data)

    stats = (await api.get(f"/datasets/{version['dataset_id']}/versions/1/stats")).json()

    x, kind = stats["columns"]
    assert stats["row_count"] == 5
    assert (x["count"], x["nulls"], x["min"], x["max"]) == (4, 1, 1.0, 10.0)
    assert x["mean"] == 4.0
    assert x["std"] == statistics.stdev([1, 2, 3, 10])
    assert x["quantiles"]["p50"] == 2.5
    assert sum(b["count"] for b in x["histogram"]) == 4
    assert x["top_values"] is None
    assert kind["top_values"][0] == {"value": "a", "count": 3}
    assert sorted(v["value"] for v in kind["top_values"][1:]) == ["b", "c"]
    assert kind["mean"] is None


async def test_soft_delete_hides_the_dataset_and_is_idempotent(api: DatasetsApi) -> None:
    kept = await api.upload(sample_csv(3), filename="kept.csv")
    gone = await api.upload(sample_csv(3), filename="gone.csv")
    gone_id = gone["dataset_id"]

    first = await api.delete(f"/datasets/{gone_id}")
    again = await api.delete(f"/datasets/{gone_id}")

    assert first.status_code == again.status_code == 204
    listed = (await api.get("/datasets")).json()["items"]
    assert [item["id"] for item in listed] == [kept["dataset_id"]]
    for path in (
        f"/datasets/{gone_id}",
        f"/datasets/{gone_id}/versions",
        f"/datasets/{gone_id}/versions/1",
        f"/datasets/{gone_id}/versions/1/rows",
        f"/datasets/{gone_id}/versions/1/stats",
        f"/datasets/{gone_id}/versions/1/content",
    ):
        assert (await api.get(path)).status_code == 404, path
    add_version = await api.create_upload(sample_csv(3), dataset_id=gone_id)
    assert add_version.status_code == 404


async def test_another_user_can_neither_read_nor_delete(api: DatasetsApi) -> None:
    version = await api.upload(sample_csv(3))
    dataset_id = version["dataset_id"]

    for path in (
        f"/datasets/{dataset_id}/versions",
        f"/datasets/{dataset_id}/versions/1/rows",
        f"/datasets/{dataset_id}/versions/1/stats",
        f"/datasets/{dataset_id}/versions/1/labels",
    ):
        response = await api.get(path, user=BOB)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"].endswith("_NOT_FOUND"), path
    assert (await api.delete(f"/datasets/{dataset_id}", user=BOB)).status_code == 404
    labelled = await api.put_labels(dataset_id, [{"row_id": 0, "label": "x"}], user=BOB)
    assert labelled.status_code == 404
    assert (await api.get(f"/datasets/{dataset_id}")).status_code == 200


async def test_stats_missing_from_an_older_version_are_computed_once(
    settings_for: SettingsFactory,
) -> None:
    app = create_app(settings_for())
    async with running_app(app) as client:
        api = DatasetsApi(client)
        version = await api.upload(sample_csv(6))
        async with app.state.context.db.transaction() as session:
            await session.execute(sa.update(DatasetVersionRow).values(stats=sa.null()))

        stats = (await api.get(f"/datasets/{version['dataset_id']}/versions/1/stats")).json()
        async with app.state.context.db.session() as session:
            stored = await session.scalar(sa.select(DatasetVersionRow.stats))

    assert [column["name"] for column in stats["columns"]] == ["id", "name", "score", "active"]
    assert stats["columns"][0]["max"] == 5.0
    assert stored == stats["columns"]
