"""The price of a document in downstream calls, refused over the limit before anything runs;
introspection off in production."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import strawberry
from graphql import parse

from bff.app import create_app
from bff.graphql.cost import INFERENCE_WEIGHT, operation_cost, priced
from bff.graphql.schema import build_schema
from tests.support.apps import running_app
from tests.support.bff_accounts import bearer, bff_settings, sign_up


@strawberry.type
class Version:
    number: int

    @strawberry.field
    def labels(self, first: int | None = None) -> list[str]:
        return []


@strawberry.type
class Dataset:
    name: str
    tags: list[str]

    @strawberry.field
    def versions(self, first: int | None = None) -> list[Version]:
        return []

    @strawberry.field(metadata=priced(1, batched=True))
    def owner(self) -> Version:
        return Version(number=0)

    @strawberry.field
    def row_count(self) -> int:
        return 0


@strawberry.type
class Query:
    @strawberry.field
    def datasets(self, first: int | None = None) -> list[Dataset]:
        return []

    @strawberry.field
    def predict(self, rows: int) -> list[float]:
        return []


SCHEMA = strawberry.Schema(Query)._schema


def cost(query: str, variables: dict[str, Any] | None = None, name: str | None = None) -> int:
    return operation_cost(SCHEMA, parse(query), name, variables)


def test_scalars_and_plain_fields_cost_nothing_and_a_call_costs_one() -> None:
    assert cost("{ datasets(first: 5) { name tags rowCount } }") == 1


def test_a_field_under_a_paged_list_is_paid_once_per_item() -> None:
    assert cost("{ datasets(first: 5) { versions(first: 3) { number } } }") == 1 + 5
    assert cost("{ datasets(first: 5) { versions(first: 3) { labels(first: 2) } } }") == (
        1 + 5 + 5 * 3 * 0  # labels answers scalars: nothing more downstream
    )


def test_the_page_size_comes_from_variables_or_the_default() -> None:
    nested = "query($n: Int) { datasets(first: $n) { versions { number } } }"
    assert cost(nested, {"n": 10}) == 1 + 10
    assert cost(nested) == 1 + 50  # the default page size of every list
    assert cost("query($n: Int = 7) { datasets(first: $n) { versions { number } } }") == 1 + 7
    assert cost("{ datasets(first: 100000) { versions { number } } }") == 1 + 200  # clamped


def test_a_batched_field_costs_once_and_a_prediction_weighs_more() -> None:
    assert cost("{ datasets(first: 20) { owner { number } } }") == 1 + 1
    assert cost("{ predict(rows: 3) }") == INFERENCE_WEIGHT


def test_fragments_are_priced_where_they_are_spread() -> None:
    query = """
    query Home { datasets(first: 4) { ...D } }
    query Other { predict(rows: 1) }
    fragment D on Dataset { ... on Dataset { versions(first: 2) { number } } }
    """
    assert cost(query, name="Home") == 1 + 4
    assert cost(query, name="Other") == INFERENCE_WEIGHT


async def test_every_answer_reports_its_cost(client: httpx.AsyncClient) -> None:
    tokens = await sign_up(client)

    response = await client.post(
        "/graphql",
        json={"query": "{ viewer { id datasets(first: 3) { items { id } } } }"},
        headers=bearer(tokens),
    )

    assert response.json()["extensions"]["cost"] == {"requested": 2, "limit": 200}


async def test_an_operation_over_the_limit_is_refused_before_it_runs(tmp_path: Path) -> None:
    settings = bff_settings(tmp_path, graphql_max_cost=2)
    async with running_app(create_app(settings)) as client:
        tokens = await sign_up(client)
        response = await client.post(
            "/graphql",
            json={
                "query": "query($n: Int) { viewer { datasets(first: $n) { items { id } } "
                "models { items { id } } } }",
                "variables": {"n": 2},
            },
            headers=bearer(tokens),
        )

    body = response.json()
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "QUERY_TOO_COSTLY"
    assert (error["extensions"]["cost"], error["extensions"]["limit"]) == (3, 2)
    assert error["extensions"]["action"] == "fix_input"
    assert body["extensions"]["cost"] == {"requested": 3, "limit": 2}


async def test_introspection_is_off_in_production_only(tmp_path: Path) -> None:
    settings = bff_settings(tmp_path)
    production = settings.model_copy(update={"environment": "production"})
    query = "{ __schema { queryType { name } } }"

    assert (await build_schema(settings).execute(query)).errors is None
    result = await build_schema(production).execute(query)
    assert result.errors is not None
    assert "introspection" in result.errors[0].message.lower()
