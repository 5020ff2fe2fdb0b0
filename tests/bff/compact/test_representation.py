"""Fields, compact answers, ETags, Cache-Control and compression on any route of /api/v1."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import brotli
import httpx
import orjson
import pytest
import zstandard
from fastapi import APIRouter, FastAPI
from fastapi.responses import StreamingResponse
from hypothesis import given, settings

from bff.compact.codec import decode
from bff.compact.compression import choose_coding
from bff.compact.representation import (
    COMPACT_MEDIA_TYPE,
    RepresentationMiddleware,
    compact_schema_of,
    etag_matches,
    strong_etag,
)
from proto.common import Page
from proto.training import TrainingJob
from services.kit.error_responses import install_error_handlers
from tests.bff.compact import strategies
from tests.support.apps import running_app

_CREATED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _job(index: int) -> TrainingJob:
    return TrainingJob(
        id=UUID(int=index + 1),
        owner_id="user-1",
        status="succeeded",
        dataset_id=uuid4(),
        dataset_version=1,
        target="species",
        features=["sepal_length", "sepal_width"],
        task="classification",
        model="logistic_regression",
        model_name=f"iris {index}",
        hyperparameters={},
        validation_split=0.2,
        seed=0,
        created_at=_CREATED,
        metrics={"accuracy": 0.9, "f1": 0.8},
    )


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    router = APIRouter(prefix="/api/v1")
    jobs = [_job(i) for i in range(30)]

    @router.get("/jobs", response_model=Page[TrainingJob])
    async def list_jobs() -> Page[TrainingJob]:
        return Page[TrainingJob](items=jobs, next_cursor="abc")

    @router.get("/jobs/{index}", response_model=TrainingJob)
    async def get_job(index: int) -> TrainingJob:
        return jobs[index]

    @router.get("/download")
    async def download() -> StreamingResponse:
        return StreamingResponse(iter([b"x" * 4096]), media_type="application/octet-stream")

    app.include_router(router)
    app.add_middleware(RepresentationMiddleware, prefix="/api/", min_compress_bytes=512)
    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(_app()) as http:
        yield http


_IDENTITY = {"accept-encoding": "identity"}


async def test_fields_select_nested_paths(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/api/v1/jobs/0", params={"fields": "id,model_name,metrics.accuracy"}
    )

    assert response.status_code == 200
    assert response.json() == {
        "id": str(UUID(int=1)),
        "model_name": "iris 0",
        "metrics": {"accuracy": 0.9},
    }


async def test_fields_select_inside_page_items(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/jobs", params={"fields": "id,status"})

    body = response.json()
    assert body["next_cursor"] == "abc"
    assert body["items"][0] == {"id": str(UUID(int=1)), "status": "succeeded"}


async def test_unknown_fields_answer_400_naming_them(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/jobs", params={"fields": "id,colour,status.deep"})

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "UNKNOWN_FIELDS"
    assert error["details"]["fields"] == ["colour", "status.deep"]
    assert "colour" in error["message"]


async def test_compact_by_accept_header_decodes_to_the_json_answer() -> None:
    app = _app()
    async with running_app(app) as client:
        plain = await client.get("/api/v1/jobs")
        compact = await client.get("/api/v1/jobs", headers={"accept": COMPACT_MEDIA_TYPE})
    schema = compact_schema_of({"app": app})

    assert compact.headers["content-type"] == COMPACT_MEDIA_TYPE
    resource, _, version = compact.headers["x-tern-keys"].partition(";v=")
    assert resource == "Page[TrainingJob]" and version == schema.version
    body = orjson.loads(compact.content)
    assert {"_k", "_d"} <= set(body["a"])
    assert decode(body, {"t": "obj", "ref": resource}, schema.resources) == plain.json()
    assert len(compact.content) < len(plain.content) / 2


async def test_compact_by_query_with_fields(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/jobs/3", params={"format": "compact", "fields": "id"})

    assert response.headers["content-type"] == COMPACT_MEDIA_TYPE
    assert response.json() == {"a": "AAAAAAAAAAAAAAAAAAAABA"}
    resources = compact_schema_of({"app": _app()}).resources
    decoded = decode(response.json(), {"t": "obj", "ref": "TrainingJob"}, resources, fields="id")
    assert decoded == {"id": str(UUID(int=4))}


_PAGE_FIELDS = strategies.selections(
    {"t": "obj", "ref": "Page[TrainingJob]"},
    compact_schema_of({"app": _app()}).resources,
    {"items": [_job(0).model_dump(mode="json")]},
)


@settings(max_examples=30, deadline=None)
@given(fields=_PAGE_FIELDS)
async def test_a_compact_answer_with_fields_decodes_to_the_json_answer_with_them(
    fields: list[str],
) -> None:
    app = _app()
    params = {"fields": ",".join(fields)}
    async with running_app(app) as client:
        plain = await client.get("/api/v1/jobs", params=params)
        compact = await client.get("/api/v1/jobs", params={**params, "format": "compact"})
    resources = compact_schema_of({"app": app}).resources
    spec = {"t": "obj", "ref": "Page[TrainingJob]"}

    assert plain.status_code == compact.status_code == 200
    assert decode(orjson.loads(compact.content), spec, resources, fields=fields) == plain.json()


async def test_a_bad_format_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/jobs", params={"format": "xml"})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "INVALID_FORMAT"


async def test_etag_and_if_none_match_answer_304(client: httpx.AsyncClient) -> None:
    first = await client.get("/api/v1/jobs/1", headers=_IDENTITY)
    etag = first.headers["etag"]

    again = await client.get("/api/v1/jobs/1", headers={**_IDENTITY, "if-none-match": etag})
    other = await client.get("/api/v1/jobs/2", headers={**_IDENTITY, "if-none-match": etag})

    assert etag.startswith('"') and not etag.startswith("W/")
    assert first.headers["cache-control"] == "private, no-cache"
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert other.status_code == 200


@pytest.mark.parametrize(
    ("coding", "decompress"),
    [
        ("gzip", gzip.decompress),
        ("br", brotli.decompress),
        ("zstd", lambda body: zstandard.ZstdDecompressor().decompressobj().decompress(body)),
    ],
)
async def test_each_compression_above_the_threshold(
    client: httpx.AsyncClient, coding: str, decompress: Any
) -> None:
    plain = await client.get("/api/v1/jobs", headers=_IDENTITY)
    async with client.stream("GET", "/api/v1/jobs", headers={"accept-encoding": coding}) as raw:
        body = b"".join([chunk async for chunk in raw.aiter_raw()])
        headers = raw.headers

    assert headers["content-encoding"] == coding
    assert "Accept-Encoding" in headers["vary"]
    assert decompress(body) == plain.content
    assert int(headers["content-length"]) == len(body) < len(plain.content)
    assert headers["etag"] != plain.headers["etag"]
    revalidated = await client.get(
        "/api/v1/jobs", headers={"accept-encoding": coding, "if-none-match": headers["etag"]}
    )
    assert revalidated.status_code == 304


async def test_small_answers_and_streams_are_not_compressed(client: httpx.AsyncClient) -> None:
    small = await client.get("/api/v1/jobs/0", params={"fields": "id"})
    stream = await client.get("/api/v1/download")

    assert "content-encoding" not in small.headers
    assert "content-encoding" not in stream.headers
    assert "etag" not in stream.headers
    assert stream.content == b"x" * 4096


def test_accept_encoding_honours_q_values() -> None:
    assert choose_coding("gzip, deflate, br, zstd") == "br"
    assert choose_coding("gzip;q=1.0, br;q=0.5") == "gzip"
    assert choose_coding("br;q=0, zstd") == "zstd"
    assert choose_coding("identity") is None
    assert choose_coding("*") == "br"
    assert choose_coding(None) is None


def test_etags_match_in_any_coding() -> None:
    etag = strong_etag(b"{}")

    assert etag_matches(etag, etag)
    assert etag_matches(f'"nope", {strong_etag(b"{}", "br")}', etag)
    assert etag_matches("*", etag)
    assert not etag_matches(strong_etag(b"[]"), etag)
