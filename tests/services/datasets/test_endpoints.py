"""The datasets service's internal API, called in-process with service tokens."""

from __future__ import annotations

import asyncio
import uuid

from services.datasets.app import create_app
from tests.support.apps import running_app, service_headers
from tests.support.dataset_files import read_parquet, sample_csv
from tests.support.datasets_api import (
    ALICE,
    BOB,
    CHUNK_SIZE,
    DatasetsApi,
    SettingsFactory,
    chunks_of,
    headers,
    sha256,
)

PARQUET = "application/vnd.apache.parquet"


async def test_chunked_upload_becomes_a_parquet_dataset(api: DatasetsApi) -> None:
    data = sample_csv(20)
    created = await api.create_upload(data, filename="people.csv")
    session = created.json()
    assert created.status_code == 201
    assert session["chunk_size"] == CHUNK_SIZE
    assert session["chunk_count"] == -(-len(data) // CHUNK_SIZE) > 3
    assert session["status"] == "open"

    for n, chunk in enumerate(chunks_of(data)):
        assert (await api.put_chunk(session["upload_id"], n, chunk)).status_code == 200
    completed = await api.complete(session["upload_id"])

    assert completed.status_code == 201
    version = completed.json()
    assert version["version"] == 1
    assert version["format"] == "csv"
    assert version["row_count"] == 20
    assert [(c["name"], c["type"]) for c in version["columns"]] == [
        ("id", "integer"),
        ("name", "string"),
        ("score", "number"),
        ("active", "boolean"),
    ]
    dataset = (await api.get(f"/datasets/{version['dataset_id']}")).json()
    assert dataset["name"] == "people"
    assert dataset["latest_version"] == 1
    assert dataset["row_count"] == 20
    assert dataset["owner_id"] == ALICE

    content = await api.get(f"/datasets/{version['dataset_id']}/versions/1/content")
    assert content.status_code == 200
    assert content.headers["content-type"] == PARQUET
    assert sha256(content.content) == version["sha256"]
    assert len(content.content) == version["size_bytes"]
    table = read_parquet(content.content)
    assert table.column("id").to_pylist() == list(range(20))
    assert table.column("name").to_pylist() == [f"name-{i}" for i in range(20)]

    upload = (await api.get(f"/uploads/{session['upload_id']}")).json()
    assert upload["status"] == "completed"
    assert upload["dataset_id"] == version["dataset_id"]
    assert upload["version"] == 1


async def test_completing_twice_answers_the_same_version(api: DatasetsApi) -> None:
    data = sample_csv(5)
    created = (await api.create_upload(data)).json()
    for n, chunk in enumerate(chunks_of(data)):
        await api.put_chunk(created["upload_id"], n, chunk)

    first = await api.complete(created["upload_id"])
    second = await api.complete(created["upload_id"])

    assert second.status_code == 201
    assert second.json() == first.json()
    listed = (await api.get("/datasets")).json()["items"]
    assert len(listed) == 1


async def test_resume_shows_received_chunks_and_finishes(api: DatasetsApi) -> None:
    data = sample_csv(20)
    chunks = chunks_of(data)
    upload_id = (await api.create_upload(data)).json()["upload_id"]
    for n in (0, 2):
        await api.put_chunk(upload_id, n, chunks[n])

    resumed = (await api.get(f"/uploads/{upload_id}")).json()
    assert resumed["received_chunks"] == [0, 2]
    missing = [n for n in range(resumed["chunk_count"]) if n not in resumed["received_chunks"]]
    for n in missing:
        await api.put_chunk(upload_id, n, chunks[n])

    assert (await api.complete(upload_id)).status_code == 201


async def test_same_chunk_twice_is_fine_a_different_body_conflicts(api: DatasetsApi) -> None:
    data = sample_csv(5)
    upload_id = (await api.create_upload(data)).json()["upload_id"]
    chunk = chunks_of(data)[0]

    first = await api.put_chunk(upload_id, 0, chunk)
    again = await api.put_chunk(upload_id, 0, chunk)
    other = await api.put_chunk(upload_id, 0, bytes(reversed(chunk)))

    assert first.status_code == again.status_code == 200
    assert again.json()["received_chunks"] == [0]
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "CHUNK_CONFLICT"


async def test_chunk_checksum_mismatch(api: DatasetsApi) -> None:
    data = sample_csv(5)
    upload_id = (await api.create_upload(data)).json()["upload_id"]

    response = await api.put_chunk(upload_id, 0, chunks_of(data)[0], checksum=sha256(b"other"))

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "CHUNK_CHECKSUM_MISMATCH"
    assert (await api.get(f"/uploads/{upload_id}")).json()["received_chunks"] == []


async def test_chunk_without_checksum_header_is_refused(api: DatasetsApi) -> None:
    data = sample_csv(5)
    upload_id = (await api.create_upload(data)).json()["upload_id"]

    response = await api.client.put(
        f"/internal/v1/uploads/{upload_id}/chunks/0",
        content=chunks_of(data)[0],
        headers=headers(ALICE),
    )

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "CHUNK_CHECKSUM_REQUIRED"


async def test_chunk_of_wrong_length_or_index_is_refused(api: DatasetsApi) -> None:
    data = sample_csv(5)
    created = (await api.create_upload(data)).json()
    upload_id, last = created["upload_id"], created["chunk_count"] - 1
    chunks = chunks_of(data)

    short = await api.put_chunk(upload_id, 0, chunks[0][:-1])
    long = await api.put_chunk(upload_id, last, chunks[last] + b"x")
    out_of_range = await api.put_chunk(upload_id, last + 1, chunks[0])

    assert short.status_code == long.status_code == 422
    assert short.json()["error"]["code"] == long.json()["error"]["code"] == "CHUNK_SIZE_INVALID"
    assert out_of_range.status_code == 422
    assert out_of_range.json()["error"]["code"] == "CHUNK_INDEX_OUT_OF_RANGE"


async def test_file_checksum_mismatch_leaves_nothing(api: DatasetsApi) -> None:
    data = sample_csv(5)
    upload_id = await api.send(data, sha256=sha256(b"something else"))

    response = await api.complete(upload_id)

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "FILE_CHECKSUM_MISMATCH"
    assert (await api.get("/datasets")).json()["items"] == []
    assert (await api.get(f"/uploads/{upload_id}")).json()["status"] == "open"


async def test_a_wrong_checksum_is_reported_before_what_parsing_finds(api: DatasetsApi) -> None:
    # The checksum is computed beside the conversion now, yet it still decides first.
    data = b"a,b\n1,2\n3\n"  # ragged as well
    upload_id = await api.send(data, sha256=sha256(b"something else"))

    response = await api.complete(upload_id)

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "FILE_CHECKSUM_MISMATCH"
    assert (await api.get(f"/uploads/{upload_id}")).json()["status"] == "open"


async def test_unparseable_file_leaves_nothing(api: DatasetsApi) -> None:
    data = b"a,b\n1,2\n3\n"
    created = (await api.create_upload(data)).json()
    for n, chunk in enumerate(chunks_of(data)):
        await api.put_chunk(created["upload_id"], n, chunk)

    response = await api.complete(created["upload_id"])

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "CSV_RAGGED"
    assert response.json()["error"]["details"]["row"] == 3
    assert (await api.get("/datasets")).json()["items"] == []


async def test_incomplete_upload_cannot_complete(api: DatasetsApi) -> None:
    data = sample_csv(20)
    created = (await api.create_upload(data)).json()
    await api.put_chunk(created["upload_id"], 1, chunks_of(data)[1])

    response = await api.complete(created["upload_id"])

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "UPLOAD_INCOMPLETE"
    expected_missing = [n for n in range(created["chunk_count"]) if n != 1]
    assert error["details"]["missing_chunks"] == expected_missing


async def test_restart_mid_upload_loses_no_chunk(settings_for: SettingsFactory) -> None:
    data = sample_csv(20)
    chunks = chunks_of(data)
    async with running_app(create_app(settings_for())) as client:
        api = DatasetsApi(client)
        upload_id = (await api.create_upload(data)).json()["upload_id"]
        for n in range(2):
            await api.put_chunk(upload_id, n, chunks[n])

    async with running_app(create_app(settings_for())) as client:
        api = DatasetsApi(client)
        assert (await api.get(f"/uploads/{upload_id}")).json()["received_chunks"] == [0, 1]
        for n in range(2, len(chunks)):
            await api.put_chunk(upload_id, n, chunks[n])
        version = (await api.complete(upload_id)).json()
        content = await api.get(f"/datasets/{version['dataset_id']}/versions/1/content")

    assert read_parquet(content.content).num_rows == 20


async def test_second_upload_to_a_dataset_adds_version_2(api: DatasetsApi) -> None:
    first = await api.upload(sample_csv(5))
    second = await api.upload(sample_csv(8), dataset_id=first["dataset_id"])

    assert second["dataset_id"] == first["dataset_id"]
    assert second["version"] == 2
    dataset = (await api.get(f"/datasets/{first['dataset_id']}")).json()
    assert dataset["latest_version"] == 2
    assert dataset["row_count"] == 8
    old = await api.get(f"/datasets/{first['dataset_id']}/versions/1/content")
    assert read_parquet(old.content).num_rows == 5
    assert (await api.get(f"/datasets/{first['dataset_id']}/versions/3")).status_code == 404


async def test_another_users_resources_answer_404(api: DatasetsApi) -> None:
    version = await api.upload(sample_csv(5))
    dataset_id = version["dataset_id"]
    open_upload = (await api.create_upload(sample_csv(5))).json()["upload_id"]

    for path in (
        f"/uploads/{open_upload}",
        f"/datasets/{dataset_id}",
        f"/datasets/{dataset_id}/versions/1",
        f"/datasets/{dataset_id}/versions/1/content",
    ):
        assert (await api.get(path, user=BOB)).status_code == 404, path
    chunk = chunks_of(sample_csv(5))[0]
    assert (await api.put_chunk(open_upload, 0, chunk, user=BOB)).status_code == 404
    assert (await api.complete(open_upload, user=BOB)).status_code == 404
    add_version = await api.create_upload(sample_csv(5), user=BOB, dataset_id=dataset_id)
    assert add_version.status_code == 404
    assert (await api.get("/datasets", user=BOB)).json()["items"] == []


async def test_service_token_is_required_and_must_be_for_datasets(api: DatasetsApi) -> None:
    missing = await api.client.get("/internal/v1/datasets")
    wrong_audience = await api.client.get(
        "/internal/v1/datasets",
        headers=service_headers("training", ALICE),
    )

    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "SERVICE_TOKEN_REQUIRED"
    assert wrong_audience.status_code == 403


async def test_datasets_are_paginated_newest_first(api: DatasetsApi) -> None:
    made = [await api.upload(sample_csv(3), filename=f"set-{i}.csv") for i in range(5)]
    newest_first = [v["dataset_id"] for v in reversed(made)]

    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await api.get("/datasets", **params)).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert seen == newest_first
    bad = await api.get("/datasets", cursor="not-a-cursor")
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "INVALID_CURSOR"


async def test_updating_a_dataset_moves_it_to_the_front(api: DatasetsApi) -> None:
    older = await api.upload(sample_csv(3), filename="older.csv")
    await api.upload(sample_csv(3), filename="newer.csv")
    await api.upload(sample_csv(4), dataset_id=older["dataset_id"])

    names = [item["name"] for item in (await api.get("/datasets")).json()["items"]]

    assert names == ["older", "newer"]


async def test_file_size_limit(settings_for: SettingsFactory) -> None:
    async with running_app(create_app(settings_for(max_file_bytes=100))) as client:
        response = await DatasetsApi(client).create_upload(b"x" * 101)

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "FILE_TOO_LARGE"


async def test_unknown_dataset_and_format_are_refused(api: DatasetsApi) -> None:
    unknown_dataset = await api.create_upload(sample_csv(3), dataset_id=str(uuid.uuid4()))
    unknown_format = await api.create_upload(sample_csv(3), filename="sheet.xlsx")

    assert unknown_dataset.status_code == 404
    assert unknown_format.status_code == 422
    assert unknown_format.json()["error"]["code"] == "UNSUPPORTED_FORMAT"


async def test_jsonl_upload_with_explicit_name(api: DatasetsApi) -> None:
    data = b"".join(b'{"x": %d, "y": "v%d"}\n' % (i, i) for i in range(10))

    version = await api.upload(data, filename="events.jsonl", name="My events")

    assert version["format"] == "jsonl"
    assert (await api.get(f"/datasets/{version['dataset_id']}")).json()["name"] == "My events"


async def test_a_windows_1252_export_is_read_and_its_encoding_kept(api: DatasetsApi) -> None:
    data = "nom;ville\nÉlise;Zürich\nRené;Genève\nFrançois;Besançon\n".encode("cp1252")

    version = await api.upload(data, filename="export.csv")

    assert version["source_encoding"] == "cp1252"
    again = (await api.get(f"/datasets/{version['dataset_id']}/versions/1")).json()
    assert again["source_encoding"] == "cp1252"
    content = await api.get(f"/datasets/{version['dataset_id']}/versions/1/content")
    assert read_parquet(content.content).column("ville").to_pylist() == [
        "Zürich",
        "Genève",
        "Besançon",
    ]


async def test_non_csv_versions_have_no_source_encoding(api: DatasetsApi) -> None:
    version = await api.upload(b'{"x": 1}\n{"x": 2}\n', filename="events.jsonl")

    assert version["source_encoding"] is None


async def test_two_completes_at_once_keep_the_new_versions_content(api: DatasetsApi) -> None:
    # A phone retrying a complete that timed out, while the first one is still converting:
    # the one that loses the race must not delete the file the winner recorded.
    first = await api.upload(sample_csv(5))
    data = sample_csv(50)
    created = (await api.create_upload(data, dataset_id=first["dataset_id"])).json()
    for n, chunk in enumerate(chunks_of(data)):
        await api.put_chunk(created["upload_id"], n, chunk)

    answers = await asyncio.gather(*(api.complete(created["upload_id"]) for _ in range(2)))

    assert [a.status_code for a in answers] == [201, 201]
    assert answers[0].json() == answers[1].json()
    content = await api.get(f"/datasets/{first['dataset_id']}/versions/2/content")
    assert content.status_code == 200, content.text
    assert read_parquet(content.content).num_rows == 50
