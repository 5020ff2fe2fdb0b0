"""The published key maps decode what a compact route answers."""

from __future__ import annotations

import httpx

from bff.compact.codec import decode
from bff.compact.representation import COMPACT_MEDIA_TYPE
from tests.support.bff_accounts import bearer, sign_up


async def test_key_maps_are_published_and_cacheable(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/schema/keys")

    body = response.json()
    assert response.status_code == 200
    assert body["format"] == "tern.compact/2"
    assert body["columns"]["layout"] == "column-major"
    assert {"Dataset", "TrainingJob", "Model", "Notification", "Page[SessionOut]"} <= set(
        body["resources"]
    )
    assert body["resources"]["TrainingJob"]["fields"]["created_at"]["t"] == "ts"
    assert response.headers["cache-control"] == "public, max-age=3600"
    assert response.headers["etag"]


async def test_a_compact_answer_decodes_with_the_published_map(
    client: httpx.AsyncClient,
) -> None:
    tokens = await sign_up(client)
    keys = (await client.get("/api/v1/schema/keys")).json()

    plain = await client.get("/api/v1/sessions", headers=bearer(tokens))
    compact = await client.get(
        "/api/v1/sessions", headers={**bearer(tokens), "accept": COMPACT_MEDIA_TYPE}
    )

    resource, _, version = compact.headers["x-tern-keys"].partition(";v=")
    assert version == keys["version"]
    spec = {"t": "obj", "ref": resource}
    assert decode(compact.json(), spec, keys["resources"]) == plain.json()


async def test_fields_on_a_bff_route(client: httpx.AsyncClient) -> None:
    tokens = await sign_up(client)

    me = await client.get("/api/v1/me", params={"fields": "email"}, headers=bearer(tokens))
    bad = await client.get("/api/v1/me", params={"fields": "email,age"}, headers=bearer(tokens))

    assert me.json() == {"email": "ada@example.com"}
    assert bad.status_code == 400
    assert bad.json()["error"]["details"]["fields"] == ["age"]
