"""Datasets through the BFF, with the real datasets service on a loopback port: resumable
uploads over a dropped connection and a service restart, bad files, every read and write,
and one user never reaching another's data."""

from __future__ import annotations

import asyncio
import hashlib
import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bff.app import create_app as create_bff
from services.datasets.app import create_app as create_datasets
from services.datasets.settings import DatasetsSettings
from tests.support.apps import running_app
from tests.support.bff_accounts import bearer, bff_settings, sign_up
from tests.support.servers import free_port, serve_app
from tests.support.settings import make_settings

CHUNK = 256


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _csv(rows: int) -> bytes:
    lines = ["id,kind,score"] + [f"{i},k{i % 3},{i / 2}" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


@dataclass
class Phone:
    """A signed-in app talking to the BFF."""

    http: httpx.AsyncClient
    headers: dict[str, str]

    async def start(self, data: bytes, filename: str = "data.csv", **extra: Any) -> dict[str, Any]:
        body = {"filename": filename, "size": len(data), "sha256": _sha(data), **extra}
        response = await self.http.post("/api/v1/uploads", json=body, headers=self.headers)
        assert response.status_code == 201, response.text
        session: dict[str, Any] = response.json()
        return session

    async def send(self, upload_id: str, n: int, chunk: bytes) -> httpx.Response:
        return await self.http.put(
            f"/api/v1/uploads/{upload_id}/chunks/{n}",
            content=chunk,
            headers={**self.headers, "X-Chunk-SHA256": _sha(chunk)},
        )

    async def send_all(self, upload_id: str, data: bytes, skip: set[int] | None = None) -> None:
        for n in range(0, -(-len(data) // CHUNK)):
            if n not in (skip or set()):
                sent = await self.send(upload_id, n, data[n * CHUNK : (n + 1) * CHUNK])
                assert sent.status_code == 200, sent.text

    async def complete(self, upload_id: str) -> httpx.Response:
        return await self.http.post(f"/api/v1/uploads/{upload_id}/complete", headers=self.headers)

    async def upload(self, data: bytes, **extra: Any) -> dict[str, Any]:
        upload_id = (await self.start(data, **extra))["upload_id"]
        await self.send_all(upload_id, data)
        completed = await self.complete(upload_id)
        assert completed.status_code == 201, completed.text
        version: dict[str, Any] = completed.json()
        return version

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.http.get(f"/api/v1{path}", headers=self.headers, params=params)


@dataclass
class Stack:
    bff: httpx.AsyncClient
    datasets_settings: DatasetsSettings
    datasets_port: int

    async def phone(self, email: str) -> Phone:
        return Phone(self.bff, bearer(await sign_up(self.bff, email=email)))


@asynccontextmanager
async def datasets_on(settings: DatasetsSettings, port: int) -> AsyncIterator[None]:
    async with serve_app(create_datasets(settings), port=port):
        yield


@asynccontextmanager
async def running_stack(data_dir: Path, **datasets_settings: Any) -> AsyncIterator[Stack]:
    """The datasets service (with these settings) and the BFF, each on a loopback socket."""
    settings = make_settings(
        DatasetsSettings,
        data_dir / "datasets",
        **{"upload_chunk_size_bytes": CHUNK, "log_json": False, **datasets_settings},
    )
    port = free_port()
    bff = create_bff(bff_settings(data_dir / "bff", datasets_url=f"http://127.0.0.1:{port}"))
    async with (
        datasets_on(settings, port),
        serve_app(bff) as bff_url,
        httpx.AsyncClient(base_url=bff_url, timeout=30) as client,
    ):
        yield Stack(client, settings, port)


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    """The datasets service and the BFF with default limits."""
    async with running_stack(tmp_path) as running:
        yield running


async def _send_half_then_hang_up(
    url: str, path: str, headers: dict[str, str], body: bytes
) -> None:
    """Announce a full chunk, send part of it, and close the socket (a phone losing signal)."""
    parsed = httpx.URL(url)
    reader, writer = await asyncio.open_connection(parsed.host, parsed.port)
    head = [f"PUT {path} HTTP/1.1", f"host: {parsed.host}", f"content-length: {CHUNK}"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
    await writer.drain()
    writer.close()
    await writer.wait_closed()
    del reader


async def test_resume_after_a_connection_drops_mid_chunk(stack: Stack) -> None:
    phone = await stack.phone("ada@example.com")
    data = _csv(100)
    upload_id = (await phone.start(data))["upload_id"]
    assert (await phone.send(upload_id, 0, data[:CHUNK])).status_code == 200

    await _send_half_then_hang_up(
        str(phone.http.base_url),
        f"/api/v1/uploads/{upload_id}/chunks/1",
        {**phone.headers, "X-Chunk-SHA256": _sha(data[CHUNK : 2 * CHUNK])},
        data[CHUNK : CHUNK + 100],
    )
    uploads_dir = stack.datasets_settings.service_dir / "uploads"
    for _ in range(200):  # until the service has noticed the drop and cleaned up
        if not list(uploads_dir.glob("*/.incoming-*")):
            break
        await asyncio.sleep(0.02)

    resumed = (await phone.get(f"/uploads/{upload_id}")).json()
    assert resumed["received_chunks"] == [0]
    await phone.send_all(upload_id, data, skip={0})
    version = (await phone.complete(upload_id)).json()
    assert version["row_count"] == 100
    assert not list(uploads_dir.glob("*/.incoming-*"))


async def test_a_datasets_restart_mid_upload_loses_no_chunk(tmp_path: Path) -> None:
    settings = make_settings(
        DatasetsSettings, tmp_path / "datasets", upload_chunk_size_bytes=CHUNK, log_json=False
    )
    port = free_port()
    bff = create_bff(bff_settings(tmp_path / "bff", datasets_url=f"http://127.0.0.1:{port}"))
    data = _csv(100)
    async with running_app(bff) as client:
        phone = Phone(client, bearer(await sign_up(client)))
        async with datasets_on(settings, port):
            upload_id = (await phone.start(data))["upload_id"]
            await phone.send(upload_id, 0, data[:CHUNK])
            await phone.send(upload_id, 2, data[2 * CHUNK : 3 * CHUNK])
        down = await phone.send(upload_id, 1, data[CHUNK : 2 * CHUNK])
        assert down.status_code == 503
        assert down.json()["error"]["retry"]["allowed"] is True
        await asyncio.sleep(0)
        async with datasets_on(settings, port):
            resumed = (await phone.get(f"/uploads/{upload_id}")).json()
            assert resumed["received_chunks"] == [0, 2]
            await phone.send_all(upload_id, data, skip={0, 2})
            completed = await phone.complete(upload_id)

    assert completed.status_code == 201
    assert completed.json()["row_count"] == 100


BAD_FILES = [
    ("ragged.csv", b"a,b\n1,2\n3,4,5\n", "CSV_RAGGED", {"row": 3}),
    # A zip (an .xlsx, say) renamed .csv: no text encoding reads it.
    (
        "sheet.csv",
        b"PK\x03\x04\x14\x00\x06\x00" + bytes(range(0x80, 0x100)) * 4,
        "BAD_ENCODING",
        {"byte_offset": 8},
    ),
    ("header-only.csv", b"a,b\n", "EMPTY_FILE", {}),
    ("blank.csv", b"\n\n", "EMPTY_FILE", {}),
    ("broken.jsonl", b'{"a": 1}\n{"a": \n', "JSONL_INVALID", {}),
    ("fake.parquet", b"PAR1 not really parquet", "PARQUET_INVALID", {}),
]


@pytest.mark.parametrize(("filename", "data", "code", "details"), BAD_FILES)
async def test_each_bad_file_is_refused_naming_the_problem(
    stack: Stack, filename: str, data: bytes, code: str, details: dict[str, Any]
) -> None:
    phone = await stack.phone("ada@example.com")
    upload_id = (await phone.start(data, filename=filename))["upload_id"]
    await phone.send_all(upload_id, data)

    response = await phone.complete(upload_id)

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == code
    assert error["action"] == "fix_input"
    assert details.items() <= (error.get("details") or {}).items()
    assert (await phone.get("/datasets")).json()["items"] == []
    assert (await phone.get("/datasets/changes")).json()["changes"] == []


async def test_checksum_mismatches_are_refused(stack: Stack) -> None:
    phone = await stack.phone("ada@example.com")
    data = _csv(30)
    body = {"filename": "a.csv", "size": len(data), "sha256": _sha(b"other")}
    upload_id = (await phone.http.post("/api/v1/uploads", json=body, headers=phone.headers)).json()[
        "upload_id"
    ]

    bad_chunk = await phone.http.put(
        f"/api/v1/uploads/{upload_id}/chunks/0",
        content=data[:CHUNK],
        headers={**phone.headers, "X-Chunk-SHA256": _sha(b"not this")},
    )
    await phone.send_all(upload_id, data)
    bad_file = await phone.complete(upload_id)

    assert bad_chunk.status_code == 422
    assert bad_chunk.json()["error"]["code"] == "CHUNK_CHECKSUM_MISMATCH"
    assert bad_file.status_code == 422
    assert bad_file.json()["error"]["code"] == "FILE_CHECKSUM_MISMATCH"


async def test_rows_stats_labels_changes_and_delete(stack: Stack) -> None:
    phone = await stack.phone("ada@example.com")
    version = await phone.upload(_csv(40))
    base = f"/datasets/{version['dataset_id']}"

    rows = (await phone.get(f"{base}/versions/1/rows", limit=5, columns="kind,id")).json()
    assert rows["columns"] == ["kind", "id"]
    assert rows["rows"][2] == ["k2", 2]
    assert rows["next_cursor"]
    stats = (await phone.get(f"{base}/versions/1/stats")).json()
    assert [c["name"] for c in stats["columns"]] == ["id", "kind", "score"]
    assert stats["columns"][0]["max"] == 39.0
    assert (await phone.get(f"{base}/versions/1")).json()["row_count"] == 40
    content = await phone.get(f"{base}/versions/1/content")
    assert content.headers["content-type"] == "application/vnd.apache.parquet"
    assert _sha(content.content) == version["sha256"]
    assert pq.read_table(io.BytesIO(content.content)).num_rows == 40

    labels_path = f"/api/v1{base}/versions/1/labels"
    put = await phone.http.put(
        labels_path, json={"labels": [{"row_id": 3, "label": "good"}]}, headers=phone.headers
    )
    stale = await phone.http.put(
        labels_path, json={"labels": [{"row_id": 3, "label": "bad"}]}, headers=phone.headers
    )
    assert put.json()["applied"][0]["revision"] == 1
    assert stale.json()["conflicts"][0]["current"]["label"] == "good"
    listed = (await phone.get(f"{base}/versions/1/labels")).json()
    assert [item["label"] for item in listed["items"]] == ["good"]

    feed = (await phone.get("/datasets/changes")).json()
    assert [(c["kind"], c["op"]) for c in feed["changes"]] == [
        ("dataset", "upsert"),
        ("label", "upsert"),
    ]
    deleted = await phone.http.delete(f"/api/v1{base}", headers=phone.headers)
    assert deleted.status_code == 204
    delta = (await phone.get("/datasets/changes", since=feed["next_since"])).json()
    assert [(c["kind"], c["op"], c["dataset_id"]) for c in delta["changes"]] == [
        ("dataset", "delete", version["dataset_id"])
    ]
    assert (await phone.get(base)).status_code == 404


async def test_one_user_never_reaches_anothers_data(stack: Stack) -> None:
    owner = await stack.phone("ada@example.com")
    intruder = await stack.phone("eve@example.com")
    data = _csv(20)
    version = await owner.upload(data)
    base = f"/datasets/{version['dataset_id']}"
    open_upload = (await owner.start(data))["upload_id"]

    for path in (
        base,
        f"{base}/versions",
        f"{base}/versions/1",
        f"{base}/versions/1/rows",
        f"{base}/versions/1/stats",
        f"{base}/versions/1/labels",
        f"{base}/versions/1/content",
        f"/uploads/{open_upload}",
    ):
        response = await intruder.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"].endswith("_NOT_FOUND"), path
    writes = [
        await intruder.send(open_upload, 0, data[:CHUNK]),
        await intruder.complete(open_upload),
        await intruder.http.delete(f"/api/v1{base}", headers=intruder.headers),
        await intruder.http.put(
            f"/api/v1{base}/versions/1/labels",
            json={"labels": [{"row_id": 0, "label": "x"}]},
            headers=intruder.headers,
        ),
        await intruder.http.post(
            "/api/v1/uploads",
            json={
                "filename": "a.csv",
                "size": len(data),
                "sha256": _sha(data),
                "dataset_id": version["dataset_id"],
            },
            headers=intruder.headers,
        ),
    ]
    assert [w.status_code for w in writes] == [404] * 5
    assert (await intruder.get("/datasets")).json()["items"] == []
    assert (await intruder.get("/datasets/changes")).json()["changes"] == []
    assert (await owner.get(f"/uploads/{open_upload}")).json()["received_chunks"] == []
    assert (await owner.get(base)).status_code == 200
    assert (await owner.get(f"{base}/versions/1/labels")).json()["items"] == []


def _parquet(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def _mobile_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The error body, checked to be the mobile format with this status and code."""
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code
    assert error["message"] and error["user_message"]
    assert error["action"] == "fix_input"
    assert error["retry"] == {"allowed": False, "after_seconds": None}
    return error


async def _nothing_stored(stack: Stack, phone: Phone) -> None:
    """No dataset, no change, and no version file in the service's store."""
    assert (await phone.get("/datasets")).json()["items"] == []
    assert (await phone.get("/datasets/changes")).json()["changes"] == []
    store = stack.datasets_settings.service_dir / "store"
    assert [p for p in store.rglob("*") if p.is_file()] == []


PEOPLE = pa.table({"id": [1, 2, 3], "city": ["Lyon", "Nice", None], "score": [0.5, 1.5, 2.5]})


@pytest.mark.parametrize(
    ("filename", "content_type", "name"),
    [
        ("cities.parquet", None, "cities"),
        ("export", "application/vnd.apache.parquet", "export"),  # no extension to go by
    ],
)
async def test_a_parquet_file_becomes_a_dataset(
    stack: Stack, filename: str, content_type: str | None, name: str
) -> None:
    phone = await stack.phone("ada@example.com")
    extra = {"content_type": content_type} if content_type else {}

    version = await phone.upload(_parquet(PEOPLE), filename=filename, **extra)

    assert version["format"] == "parquet"
    assert version["row_count"] == 3
    assert version["source_encoding"] is None
    assert [(c["name"], c["type"], c["nulls"]) for c in version["columns"]] == [
        ("id", "integer", 0),
        ("city", "string", 1),
        ("score", "number", 0),
    ]
    base = f"/datasets/{version['dataset_id']}"
    assert (await phone.get(base)).json()["name"] == name
    content = await phone.get(f"{base}/versions/1/content")
    assert pq.read_table(io.BytesIO(content.content)).equals(PEOPLE)


@pytest.mark.parametrize(
    ("data", "code", "details"),
    [
        (_csv(11), "TOO_MANY_ROWS", {"max_rows": 10}),
        (b"a,b,c,d\n1,2,3,4\n", "TOO_MANY_COLUMNS", {"max_columns": 3, "columns": 4}),
    ],
    ids=["rows", "columns"],
)
async def test_row_and_column_limits_refuse_the_file_and_leave_nothing(
    tmp_path: Path, data: bytes, code: str, details: dict[str, int]
) -> None:
    async with running_stack(tmp_path, max_rows=10, max_columns=3) as stack:
        phone = await stack.phone("ada@example.com")
        upload_id = (await phone.start(data))["upload_id"]
        await phone.send_all(upload_id, data)

        response = await phone.complete(upload_id)

        error = _mobile_error(response, 422, code)
        assert error["details"] == details
        await _nothing_stored(stack, phone)
        assert (await phone.get(f"/uploads/{upload_id}")).json()["status"] == "open"
        work_dirs = (stack.datasets_settings.service_dir / "uploads").glob("*/complete-*")
        assert list(work_dirs) == []


async def test_a_file_over_the_size_limit_is_refused_before_any_chunk(tmp_path: Path) -> None:
    async with running_stack(tmp_path, max_file_bytes=1000) as stack:
        phone = await stack.phone("ada@example.com")
        announce = {"filename": "big.csv", "sha256": _sha(b"big")}

        too_big = await phone.http.post(
            "/api/v1/uploads", json={**announce, "size": 1001}, headers=phone.headers
        )
        at_limit = await phone.http.post(
            "/api/v1/uploads", json={**announce, "size": 1000}, headers=phone.headers
        )

    error = _mobile_error(too_big, 413, "FILE_TOO_LARGE")
    assert error["details"] == {"max_bytes": 1000}
    assert "1001" in error["message"]
    assert at_limit.status_code == 201


async def test_a_zero_byte_file_is_refused_as_empty(stack: Stack) -> None:
    phone = await stack.phone("ada@example.com")
    body = {"filename": "empty.csv", "size": 0, "sha256": _sha(b"")}

    response = await phone.http.post("/api/v1/uploads", json=body, headers=phone.headers)

    error = _mobile_error(response, 422, "EMPTY_FILE")
    assert "empty" in error["message"]
    assert error["details"] == {"filename": "empty.csv"}
    await _nothing_stored(stack, phone)


async def test_a_datasets_versions_come_newest_first_a_page_at_a_time(stack: Stack) -> None:
    owner = await stack.phone("ada@example.com")
    intruder = await stack.phone("eve@example.com")
    first = await owner.upload(_csv(10))
    dataset_id = first["dataset_id"]
    for rows in (20, 30):
        await owner.upload(_csv(rows), dataset_id=dataset_id)
    path = f"/datasets/{dataset_id}/versions"

    page_1 = (await owner.get(path, limit=2)).json()
    page_2 = (await owner.get(path, limit=2, cursor=page_1["next_cursor"])).json()
    theirs = await intruder.get(path)

    assert [(v["version"], v["row_count"]) for v in page_1["items"]] == [(3, 30), (2, 20)]
    assert page_2["items"] == [first]
    assert page_2["next_cursor"] is None
    _mobile_error(await owner.get(path, cursor="not-ours"), 400, "INVALID_CURSOR")
    _mobile_error(await owner.get(path, cursor="x" * 1025), 422, "VALIDATION_FAILED")
    assert theirs.status_code == 404
    assert theirs.json()["error"]["code"] == "DATASET_NOT_FOUND"
