"""One error format: every GraphQL error carries the REST mobile code, action and retry;
paging arguments are checked like REST; a list whose service is down answers its kept copy."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from bff.app import create_app
from bff.clients.reads import DownstreamPage
from bff.context import BffContext
from services.kit.http_client import ServiceResponse
from tests.support.apps import running_app
from tests.support.bff_accounts import bearer, bff_settings, sign_up


async def _errors(
    client: httpx.AsyncClient, query: str, tokens: dict[str, Any] | None = None, **variables: Any
) -> list[dict[str, Any]]:
    headers = bearer(tokens) if tokens else {}
    body = {"query": query, "variables": variables or None}
    response = await client.post("/graphql", json=body, headers=headers)
    errors: list[dict[str, Any]] = response.json()["errors"]
    return errors


def _codes(errors: list[dict[str, Any]]) -> list[str]:
    return [error["extensions"]["code"] for error in errors]


async def test_a_field_the_schema_lacks_is_a_validation_error(client: httpx.AsyncClient) -> None:
    [error] = await _errors(client, "{ viewer { noSuchField } }")

    assert error["extensions"] == {
        "code": "GRAPHQL_VALIDATION_FAILED",
        "action": "fix_input",
        "retry": {"allowed": False, "after_seconds": None},
    }
    assert "noSuchField" in error["message"]


async def test_a_document_that_does_not_parse_is_a_parse_error(client: httpx.AsyncClient) -> None:
    assert _codes(await _errors(client, "{ viewer { email ")) == ["GRAPHQL_PARSE_FAILED"]


async def test_a_variable_of_the_wrong_type_is_a_validation_error_not_a_masked_one(
    client: httpx.AsyncClient,
) -> None:
    query = "query($n: Int) { viewer { datasets(first: $n) { nextCursor } } }"

    [error] = await _errors(client, query, n="ten")

    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "$n" in error["message"]


async def test_limit_refusals_carry_their_own_codes(tmp_path: Path) -> None:
    settings = bff_settings(tmp_path, graphql_max_depth=3, graphql_max_tokens=70)
    aliases = " ".join(f"a{i}: email" for i in range(20))
    async with running_app(create_app(settings)) as client:
        deep = await _errors(client, "{ viewer { datasets { items { columns { name } } } } }")
        many = await _errors(client, f"{{ viewer {{ {aliases} }} }}")
        long = await _errors(client, "{ viewer { " + "email " * 80 + "} }")

    assert _codes(deep) == ["QUERY_TOO_DEEP"]
    assert "TOO_MANY_ALIASES" in _codes(many)
    assert _codes(long) == ["TOO_MANY_TOKENS"]
    assert all(e["extensions"]["action"] == "fix_input" for e in [*deep, *many, *long])


@pytest.mark.parametrize("first", [0, -1, 1000])
async def test_a_page_size_rest_refuses_is_refused_with_the_rest_code(
    client: httpx.AsyncClient, first: int
) -> None:
    tokens = await sign_up(client)

    [error] = await _errors(
        client,
        "query($n: Int) { viewer { email datasets(first: $n) { nextCursor } } }",
        tokens,
        n=first,
    )

    assert error["path"] == ["viewer", "datasets"]
    assert error["extensions"]["code"] == "VALIDATION_FAILED"
    assert error["extensions"]["details"]["fields"][0]["field"] == "first"


async def test_a_cursor_longer_than_any_we_emit_is_invalid(client: httpx.AsyncClient) -> None:
    tokens = await sign_up(client)

    [error] = await _errors(
        client,
        "query($c: String) { viewer { models(after: $c) { nextCursor } } }",
        tokens,
        c="x" * 2000,
    )

    assert error["extensions"]["code"] == "INVALID_CURSOR"


def _page(items: list[dict[str, Any]]) -> DownstreamPage:
    content = orjson.dumps({"items": items, "next_cursor": None})
    return DownstreamPage.of(ServiceResponse(200, CIMultiDictProxy(CIMultiDict()), content))


async def test_a_list_whose_service_is_down_answers_its_kept_copy_marked_stale(
    settings: Any,
) -> None:
    app = create_app(settings)
    now = datetime.now(UTC).isoformat()
    dataset = {
        "id": "3f1c8a52-61b7-4e57-9a38-2b1f7cb1f6c1",
        "name": "churn",
        "latest_version": 2,
        "row_count": 40,
        "columns": [],
        "created_at": now,
        "updated_at": now,
    }
    async with running_app(app) as client:
        tokens = await sign_up(client)
        bff: BffContext = app.state.context
        user_id = str(tokens["user"]["id"])

        async def earlier_read() -> DownstreamPage:
            return _page([dataset])

        await bff.pages.read("datasets", user_id, "datasets:50:None", earlier_read)
        response = await client.post(
            "/graphql",
            json={
                "query": "{ viewer { datasets { items { id name } stale ageS } models { stale } } }"
            },
            headers=bearer(tokens),
        )

    body = response.json()
    assert body["data"]["viewer"]["datasets"] == {
        "items": [{"id": dataset["id"], "name": "churn"}],
        "stale": True,
        "ageS": 0,
    }
    assert body["data"]["viewer"]["models"] is None  # nothing kept: null, with its error
    errors = {tuple(error["path"]): error["extensions"] for error in body["errors"]}
    assert errors[("viewer", "datasets")]["code"] == "SERVICE_UNAVAILABLE"
    assert errors[("viewer", "datasets")]["stale"] is True
    assert errors[("viewer", "models")]["code"] == "SERVICE_UNAVAILABLE"
    assert "stale" not in errors[("viewer", "models")]
