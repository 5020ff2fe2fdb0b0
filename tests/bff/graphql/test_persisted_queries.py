"""Automatic persisted queries (Apollo's protocol) and GET for queries: a hash alone, a hash
with its document, a wrong hash; an ETag and Cache-Control on GET answers, 304 when unchanged,
and never a mutation over GET."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import httpx
import orjson

from bff.app import create_app
from tests.support.apps import running_app
from tests.support.bff_accounts import bearer, bff_settings, sign_up

QUERY = "{ viewer { id email } }"
HASH = hashlib.sha256(QUERY.encode()).hexdigest()


def persisted(sha256: str = HASH) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha256}}


def get_params(sha256: str = HASH, query: str | None = None) -> dict[str, str]:
    params = {"extensions": orjson.dumps(persisted(sha256)).decode()}
    if query is not None:
        params["query"] = query
    return params


async def test_a_hash_alone_is_not_found_until_sent_with_its_query(
    client: httpx.AsyncClient,
) -> None:
    tokens = await sign_up(client)

    missing = await client.get("/graphql", params=get_params(), headers=bearer(tokens))
    assert missing.status_code == 200
    [error] = missing.json()["errors"]
    assert error["message"] == "PersistedQueryNotFound"  # what Apollo clients look for
    assert error["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    assert error["extensions"]["retry"]["allowed"] is True

    registered = await client.post(
        "/graphql",
        json={"query": QUERY, "extensions": persisted()},
        headers=bearer(tokens),
    )
    assert registered.json()["data"]["viewer"]["email"] == "ada@example.com"

    found = await client.get("/graphql", params=get_params(), headers=bearer(tokens))
    assert found.status_code == 200
    assert found.json()["data"]["viewer"]["id"] == tokens["user"]["id"]
    # A hash alone over POST too.
    posted = await client.post("/graphql", json={"extensions": persisted()}, headers=bearer(tokens))
    assert posted.json()["data"]["viewer"]["email"] == "ada@example.com"


async def test_a_wrong_hash_is_refused_and_kept_nowhere(client: httpx.AsyncClient) -> None:
    tokens = await sign_up(client)
    wrong = hashlib.sha256(b"{ viewer { id } }").hexdigest()

    refused = await client.post(
        "/graphql", json={"query": QUERY, "extensions": persisted(wrong)}, headers=bearer(tokens)
    )

    [error] = refused.json()["errors"]
    assert error["extensions"]["code"] == "PERSISTED_QUERY_HASH_MISMATCH"
    assert "data" not in refused.json()
    again = await client.get("/graphql", params=get_params(wrong), headers=bearer(tokens))
    assert again.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


async def test_a_malformed_persisted_query_is_an_input_error(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql",
        json={"extensions": {"persistedQuery": {"version": 2, "sha256Hash": HASH}}},
    )

    assert response.json()["errors"][0]["extensions"]["code"] == "INVALID_PERSISTED_QUERY"


async def test_a_document_over_the_cap_runs_but_is_not_kept(tmp_path: Path) -> None:
    settings = bff_settings(tmp_path, graphql_persisted_query_max_bytes=len(QUERY) - 1)
    async with running_app(create_app(settings)) as client:
        tokens = await sign_up(client)
        ran = await client.post(
            "/graphql", json={"query": QUERY, "extensions": persisted()}, headers=bearer(tokens)
        )
        assert ran.json()["data"]["viewer"]["email"] == "ada@example.com"

        missing = await client.get("/graphql", params=get_params(), headers=bearer(tokens))
        assert missing.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


async def test_a_get_answer_is_private_with_an_etag_and_304_when_unchanged(
    client: httpx.AsyncClient,
) -> None:
    tokens = await sign_up(client)

    first = await client.get("/graphql", params={"query": QUERY}, headers=bearer(tokens))

    assert first.status_code == 200
    assert first.headers["cache-control"] == "private, max-age=0, must-revalidate"
    etag = first.headers["etag"]
    again = await client.get(
        "/graphql",
        params={"query": QUERY},
        headers={**bearer(tokens), "if-none-match": etag},
    )
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    # Another user's answer differs, so its tag does too.
    bob = await sign_up(client, "bob@example.com")
    other = await client.get(
        "/graphql", params={"query": QUERY}, headers={**bearer(bob), "if-none-match": etag}
    )
    assert other.status_code == 200
    assert other.headers["etag"] != etag


async def test_a_post_answer_carries_no_etag(client: httpx.AsyncClient) -> None:
    tokens = await sign_up(client)

    response = await client.post("/graphql", json={"query": QUERY}, headers=bearer(tokens))

    assert "etag" not in response.headers


async def test_no_mutation_runs_over_get_even_persisted(client: httpx.AsyncClient) -> None:
    tokens = await sign_up(client)
    mutation = "mutation { __typename }"
    sha256 = hashlib.sha256(mutation.encode()).hexdigest()
    await client.post(
        "/graphql",
        json={"query": mutation, "extensions": persisted(sha256)},
        headers=bearer(tokens),
    )

    for params in ({"query": mutation}, get_params(sha256)):
        response = await client.get("/graphql", params=params, headers=bearer(tokens))
        assert response.status_code in (400, 405), response.text
        assert "error" in response.json()  # the mobile error body, not plain text
        assert "etag" not in response.headers
