"""Compression Dictionary Transport (RFC 9842) as a phone sees it: fetch the dictionary a
family's answer links to (the one of its JSON answers, or of its compact ones), offer its hash
back, and get answers in dcz that decode with it."""

from __future__ import annotations

import base64
import gzip
import hashlib
import random
from collections.abc import AsyncIterator
from typing import Any

import brotli
import httpx
import orjson
import pytest
import zstandard
from fastapi import APIRouter, FastAPI

from bff.compact.compression import choose_coding
from bff.compact.compression_dictionaries import (
    DCZ_HEADER_BYTES,
    DCZ_MAGIC,
    available_dictionary,
    committed_dictionaries,
)
from bff.compact.dictionaries import samples
from bff.compact.representation import COMPACT_MEDIA_TYPE, RepresentationMiddleware, Represented
from bff.routes import dictionaries
from bff.sync.schemas import SyncAnswer
from proto.datasets import ChangeFeed
from services.kit.error_responses import install_error_handlers
from services.kit.errors import ApiError
from tests.support.apps import running_app

PHONE = "gzip, deflate, br, zstd, dcz"
_DELTA = samples.sync_answer(random.Random(2026), records=5)
# One change, small enough that no other coding would be applied to it (a first sync's cursor).
_SMALL_DELTA = next(
    answer
    for seed in range(200)
    if 300 < len(orjson.dumps(answer := samples.sync_answer(random.Random(seed), records=1))) < 500
)
_CHANGES = samples.dataset_changes(random.Random(3))
# What a compact client is sent for them (the compact codec with the routes' key maps).
_COMPACT_DELTA = samples.encoded(samples.compact_encoder("/api/v1/sync")(_DELTA))
_COMPACT_CHANGES = samples.encoded(samples.compact_encoder("/api/v1/datasets/changes")(_CHANGES))


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    router = APIRouter(prefix="/api/v1")

    @router.post("/sync", response_model=SyncAnswer)
    async def sync(body: dict[str, Any]) -> Represented:
        if body.get("fail"):
            raise ApiError(400, "INVALID_CURSOR", "the cursor is not valid")
        return Represented(_SMALL_DELTA if body.get("small") else _DELTA)

    @router.get("/datasets/changes", response_model=ChangeFeed)
    async def changes() -> dict[str, Any]:
        return _CHANGES

    @router.get("/other")
    async def other() -> dict[str, Any]:
        return _DELTA

    app.include_router(router)
    app.include_router(dictionaries.router, prefix="/api/v1")
    app.add_middleware(RepresentationMiddleware, prefix="/api/", min_compress_bytes=512)
    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(_app()) as http:
        yield http


async def _raw(
    client: httpx.AsyncClient, method: str, url: str, headers: dict[str, str], **kwargs: Any
) -> tuple[httpx.Headers, bytes]:
    """The answer's headers and its bytes as they came over the wire (not decoded)."""
    async with client.stream(method, url, headers=headers, **kwargs) as response:
        return response.headers, b"".join([chunk async for chunk in response.aiter_raw()])


async def _fetch_dictionary(client: httpx.AsyncClient, link: str) -> bytes:
    url, _, rel = link.partition(";")
    assert rel.strip() == 'rel="compression-dictionary"'
    response = await client.get(url.strip().strip("<>"), headers={"accept-encoding": "identity"})
    assert response.status_code == 200
    return response.content


def _offer(dictionary: bytes) -> str:
    return f":{base64.b64encode(hashlib.sha256(dictionary).digest()).decode()}:"


def _dcz_decode(body: bytes, dictionary: bytes) -> bytes:
    assert body[:8] == DCZ_MAGIC
    assert body[8:DCZ_HEADER_BYTES] == hashlib.sha256(dictionary).digest()
    raw = zstandard.ZstdCompressionDict(dictionary, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
    return zstandard.ZstdDecompressor(dict_data=raw).decompress(body[DCZ_HEADER_BYTES:])


async def test_a_client_that_fetched_the_dictionary_gets_dcz_and_decodes_it(
    client: httpx.AsyncClient,
) -> None:
    first, plain = await _raw(client, "POST", "/api/v1/sync", {"accept-encoding": PHONE}, json={})
    dictionary = await _fetch_dictionary(client, first["link"])
    headers, body = await _raw(
        client,
        "POST",
        "/api/v1/sync",
        {"accept-encoding": PHONE, "available-dictionary": _offer(dictionary)},
        json={},
    )

    assert first["content-encoding"] == "br"  # without the dictionary: the usual coding
    assert headers["content-encoding"] == "dcz"
    assert orjson.loads(_dcz_decode(body, dictionary)) == _DELTA
    assert int(headers["content-length"]) == len(body)
    assert len(body) < len(plain) and len(body) <= len(gzip.compress(orjson.dumps(_DELTA))) / 1.5
    assert {"Accept-Encoding", "Available-Dictionary"} <= _vary(headers)
    assert "link" not in headers  # it has the dictionary already


async def test_small_answers_below_the_compression_threshold_are_dcz_too(
    client: httpx.AsyncClient,
) -> None:
    dictionary = committed_dictionaries().for_path("/api/v1/sync")
    assert dictionary is not None
    offered = {"accept-encoding": PHONE, "available-dictionary": _offer(dictionary.content)}
    identity = {"accept-encoding": PHONE}
    without, plain = await _raw(client, "POST", "/api/v1/sync", identity, json={"small": True})
    headers, body = await _raw(client, "POST", "/api/v1/sync", offered, json={"small": True})

    assert len(plain) < 512 and "content-encoding" not in without
    assert headers["content-encoding"] == "dcz"
    assert _dcz_decode(body, dictionary.content) == plain
    assert len(body) < len(plain) * 0.6


@pytest.mark.parametrize(
    ("offer", "accept_encoding", "expected"),
    [
        ("wrong-hash", PHONE, "br"),
        ("not-a-byte-sequence", PHONE, "br"),
        ("right", "gzip, br, zstd", "br"),
        ("right", "gzip, br;q=0.5, dcz;q=0", "gzip"),
        ("right", "zstd, dcz;q=0.5", "zstd"),
        ("right", "*", "br"),
    ],
)
async def test_without_the_dictionary_or_dcz_the_answer_falls_back(
    client: httpx.AsyncClient, offer: str, accept_encoding: str, expected: str
) -> None:
    dictionary = committed_dictionaries().for_path("/api/v1/sync")
    assert dictionary is not None
    offered = {
        "right": _offer(dictionary.content),
        "wrong-hash": _offer(b"another dictionary"),
        "not-a-byte-sequence": dictionary.sha256.hex(),
    }[offer]
    headers, body = await _raw(
        client,
        "POST",
        "/api/v1/sync",
        {"accept-encoding": accept_encoding, "available-dictionary": offered},
        json={},
    )
    decode = {"br": brotli.decompress, "gzip": gzip.decompress}.get(
        expected, lambda b: zstandard.ZstdDecompressor().decompressobj().decompress(b)
    )

    assert headers["content-encoding"] == expected
    assert orjson.loads(decode(body)) == _DELTA
    assert headers["link"] == dictionary.link
    assert "Available-Dictionary" in _vary(headers)


async def test_the_dictionary_is_served_for_clients_to_keep(client: httpx.AsyncClient) -> None:
    dictionary = committed_dictionaries().for_path("/api/v1/sync")
    assert dictionary is not None
    response = await client.get(dictionary.url, headers={"accept-encoding": "identity"})
    compressed = await client.get(dictionary.url, headers={"accept-encoding": "br"})
    again = await client.get(dictionary.url, headers={"if-none-match": response.headers["etag"]})
    stale = await client.get("/api/v1/dictionaries/sync/0123456789abcdef")
    unknown = await client.get(f"/api/v1/dictionaries/passwords/{dictionary.id}")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert response.headers["use-as-dictionary"] == (
        f'match="/api/v1/sync*", match-dest=(), id="{dictionary.id}"'
    )
    digest = hashlib.sha256(response.content).hexdigest()
    assert response.headers["etag"] == f'"{digest}"' and digest.startswith(dictionary.id)
    assert dictionary.url == f"/api/v1/dictionaries/sync/{dictionary.id}"
    assert compressed.headers["content-encoding"] == "br"
    assert compressed.content == response.content  # httpx decoded it
    assert again.status_code == 304
    assert stale.status_code == unknown.status_code == 404
    assert stale.json()["error"]["code"] == "DICTIONARY_NOT_FOUND"


async def test_etags_and_304_work_across_codings_with_a_dictionary(
    client: httpx.AsyncClient,
) -> None:
    dictionary = committed_dictionaries().for_path("/api/v1/datasets/changes")
    assert dictionary is not None and dictionary.family.name == "dataset-changes"
    offered = {"accept-encoding": PHONE, "available-dictionary": _offer(dictionary.content)}
    dcz, body = await _raw(client, "GET", "/api/v1/datasets/changes", offered)
    br, _ = await _raw(client, "GET", "/api/v1/datasets/changes", {"accept-encoding": PHONE})
    revalidated = await client.get(
        "/api/v1/datasets/changes", headers={**offered, "if-none-match": dcz["etag"]}
    )
    across = await client.get(
        "/api/v1/datasets/changes", headers={"accept-encoding": "br", "if-none-match": dcz["etag"]}
    )

    assert dcz["content-encoding"] == "dcz" and br["content-encoding"] == "br"
    assert orjson.loads(_dcz_decode(body, dictionary.content)) == _CHANGES
    assert dcz["etag"] != br["etag"]
    assert revalidated.status_code == across.status_code == 304
    assert "Available-Dictionary" in _vary(revalidated.headers)


async def test_errors_and_paths_without_a_family_are_not_dcz(client: httpx.AsyncClient) -> None:
    dictionary = committed_dictionaries().for_path("/api/v1/sync")
    assert dictionary is not None
    offered = {"accept-encoding": PHONE, "available-dictionary": _offer(dictionary.content)}
    error = await client.post("/api/v1/sync", headers=offered, json={"fail": True})
    other, _ = await _raw(client, "GET", "/api/v1/other", offered)

    assert error.status_code == 400 and "content-encoding" not in error.headers
    assert error.json()["error"]["code"] == "INVALID_CURSOR"
    assert other["content-encoding"] == "br"
    assert "link" not in other and "Available-Dictionary" not in _vary(other)


@pytest.mark.parametrize(
    ("asks_compact", "query"),
    [({"accept": COMPACT_MEDIA_TYPE}, ""), ({}, "?format=compact")],
    ids=["accept", "format"],
)
async def test_a_compact_client_gets_dcz_with_the_compact_dictionary(
    client: httpx.AsyncClient, asks_compact: dict[str, str], query: str
) -> None:
    url = f"/api/v1/sync{query}"
    compact = {**asks_compact, "accept-encoding": PHONE}
    first, plain = await _raw(client, "POST", url, compact, json={})
    dictionary = await _fetch_dictionary(client, first["link"])
    headers, body = await _raw(
        client, "POST", url, {**compact, "available-dictionary": _offer(dictionary)}, json={}
    )
    json_dictionary = committed_dictionaries().for_path("/api/v1/sync")
    compact_dictionary = committed_dictionaries().for_path("/api/v1/sync", compact=True)
    assert json_dictionary is not None and compact_dictionary is not None

    assert first["content-encoding"] == "br"
    assert dictionary == compact_dictionary.content != json_dictionary.content
    assert first["link"] == compact_dictionary.link != json_dictionary.link
    assert headers["content-encoding"] == "dcz"
    assert headers["content-type"] == COMPACT_MEDIA_TYPE
    assert _dcz_decode(body, dictionary) == _COMPACT_DELTA
    assert len(body) < len(plain) and len(body) <= len(gzip.compress(_COMPACT_DELTA)) / 1.4
    assert "link" not in headers


@pytest.mark.parametrize("holds_compact", [False, True], ids=["holds-json", "holds-compact"])
async def test_a_client_that_switches_representation_is_sent_the_other_dictionary(
    client: httpx.AsyncClient, holds_compact: bool
) -> None:
    held = committed_dictionaries().for_path("/api/v1/datasets/changes", holds_compact)
    wanted = committed_dictionaries().for_path("/api/v1/datasets/changes", not holds_compact)
    assert held is not None and wanted is not None
    asks = {"accept": "application/json" if holds_compact else COMPACT_MEDIA_TYPE}
    offered = {**asks, "accept-encoding": PHONE, "available-dictionary": _offer(held.content)}
    switched, _ = await _raw(client, "GET", "/api/v1/datasets/changes", offered)
    fetched = await _fetch_dictionary(client, switched["link"])
    offered["available-dictionary"] = _offer(fetched)
    headers, body = await _raw(client, "GET", "/api/v1/datasets/changes", offered)

    assert switched["content-encoding"] == "br"  # the dictionary it holds is the other one
    assert switched["link"] == wanted.link and fetched == wanted.content
    assert headers["content-encoding"] == "dcz"
    assert headers["etag"].endswith(f'-dcz.{wanted.id}"')  # names the dictionary it used
    decoded = _dcz_decode(body, wanted.content)
    if holds_compact:  # and now asks for JSON
        assert orjson.loads(decoded) == _CHANGES
    else:
        assert decoded == _COMPACT_CHANGES


async def test_both_dictionaries_of_a_family_are_served(client: httpx.AsyncClient) -> None:
    found = [committed_dictionaries().for_path("/api/v1/sync", c) for c in (False, True)]
    responses = [
        await client.get(d.url, headers={"accept-encoding": "identity"})
        for d in found
        if d is not None
    ]

    assert [r.status_code for r in responses] == [200, 200]
    assert [r.content for r in responses] == [d.content for d in found if d is not None]
    ids = {r.headers["use-as-dictionary"].rpartition("id=")[2] for r in responses}
    assert len(ids) == 2  # two versions of the one family, told apart by their ids


def test_available_dictionary_is_a_structured_field_byte_sequence() -> None:
    digest = hashlib.sha256(b"x").digest()

    assert available_dictionary(f":{base64.b64encode(digest).decode()}:") == digest
    assert available_dictionary(f" :{base64.b64encode(digest).decode()}: ") == digest
    assert available_dictionary(base64.b64encode(digest).decode()) is None
    assert available_dictionary(":c2hvcnQ=:") is None  # not a SHA-256
    assert available_dictionary(":not base64!:") is None
    assert available_dictionary(None) is None


def test_dcz_is_chosen_only_when_named_and_the_client_holds_the_dictionary() -> None:
    assert choose_coding(PHONE, dictionary=True) == "dcz"
    assert choose_coding(PHONE) == "br"
    assert choose_coding("*", dictionary=True) == "br"
    assert choose_coding("br, dcz;q=0.9", dictionary=True) == "br"


def test_each_family_has_a_dictionary_for_its_paths() -> None:
    loaded = committed_dictionaries()
    paths = {
        "/api/v1/sync": "sync",
        "/api/v1/datasets/changes": "dataset-changes",
        "/api/v1/notifications": "notifications",
        "/api/v1/dashboard": "dashboard",
    }

    for path, family in paths.items():
        found = [loaded.for_path(path, compact) for compact in (False, True)]
        for compact, dictionary in zip((False, True), found, strict=True):
            assert dictionary is not None and dictionary.family.name == family
            assert dictionary.compact is compact
            assert 4 * 1024 <= len(dictionary.content) <= 16 * 1024
        assert len({d.id for d in found if d is not None}) == 2
    assert loaded.for_path("/api/v1/datasets") is None
    assert loaded.for_path("/api/v1/datasets", compact=True) is None
    assert loaded.for_path("/api/v1/sync/push") is not None  # "/api/v1/sync*" covers it


def _vary(headers: httpx.Headers) -> set[str]:
    return {part.strip() for part in headers.get("vary", "").split(",")}
