"""The viewer query over GraphQL, its auth errors and its document limits."""

from pathlib import Path

import httpx

from bff.app import create_app
from tests.support.apps import running_app
from tests.support.bff_accounts import bearer, bff_settings, sign_up

VIEWER = """
query {
  viewer {
    id
    email
    datasets(first: 5) { items { id name columns { name type } } nextCursor }
    trainingJobs { items { id status } }
    models { items { id name } }
    notifications { items { id title } }
  }
}
"""


async def test_viewer_answers_the_user_and_an_error_per_service_that_is_down(
    client: httpx.AsyncClient,
) -> None:
    tokens = await sign_up(client)

    response = await client.post("/graphql", json={"query": VIEWER}, headers=bearer(tokens))

    assert response.status_code == 200
    body = response.json()
    viewer = body["data"]["viewer"]
    assert viewer["id"] == tokens["user"]["id"]
    assert viewer["email"] == "ada@example.com"
    assert all(viewer[field] is None for field in ("datasets", "trainingJobs", "models"))
    errors = {tuple(error["path"]): error["extensions"] for error in body["errors"]}
    assert errors[("viewer", "datasets")]["code"] == "SERVICE_UNAVAILABLE"
    assert errors[("viewer", "datasets")]["details"]["service"] == "datasets"
    assert errors[("viewer", "notifications")]["details"]["service"] == "notifications"
    assert len(errors) == 4


async def test_only_the_user_fields_cost_nothing_downstream(client: httpx.AsyncClient) -> None:
    tokens = await sign_up(client)

    response = await client.post(
        "/graphql", json={"query": "{ viewer { id email createdAt } }"}, headers=bearer(tokens)
    )

    assert "errors" not in response.json()
    assert response.json()["data"]["viewer"]["email"] == "ada@example.com"


async def test_viewer_without_a_token_is_an_auth_error(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"query": "{ viewer { id } }"})

    body = response.json()
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "AUTH_REQUIRED"
    assert body["errors"][0]["extensions"]["action"] == "sign_in"


async def test_a_revoked_session_is_an_auth_error(client: httpx.AsyncClient) -> None:
    tokens = await sign_up(client)
    await client.post("/api/v1/auth/logout", headers=bearer(tokens))

    response = await client.post(
        "/graphql", json={"query": "{ viewer { id } }"}, headers=bearer(tokens)
    )

    assert response.json()["errors"][0]["extensions"]["code"] == "SESSION_REVOKED"


async def test_an_over_deep_query_is_refused_before_running(tmp_path: Path) -> None:
    settings = bff_settings(tmp_path, graphql_max_depth=3)
    async with running_app(create_app(settings)) as client:
        tokens = await sign_up(client)
        response = await client.post("/graphql", json={"query": VIEWER}, headers=bearer(tokens))

    body = response.json()
    assert body.get("data") is None
    assert "exceeds maximum operation depth of 3" in body["errors"][0]["message"]


async def test_too_many_aliases_are_refused(client: httpx.AsyncClient) -> None:
    aliases = " ".join(f"a{i}: email" for i in range(20))

    response = await client.post("/graphql", json={"query": f"{{ viewer {{ {aliases} }} }}"})

    assert "aliases found" in response.json()["errors"][0]["message"]


async def test_a_request_graphql_cannot_read_gets_the_mobile_error_body(
    client: httpx.AsyncClient,
) -> None:
    malformed = await client.post(
        "/graphql", content=b'{"query": ', headers={"content-type": "application/json"}
    )
    no_query = await client.post("/graphql", json={"variables": {}})
    wrong_method = await client.put("/graphql", json={"query": "{ viewer { id } }"})

    for answer, status in ((malformed, 400), (no_query, 400), (wrong_method, 405)):
        assert answer.status_code == status
        assert answer.headers["content-type"] == "application/json"
        assert answer.json()["error"]["message"]
    assert set(wrong_method.headers["allow"].replace(" ", "").split(",")) == {"GET", "POST"}
