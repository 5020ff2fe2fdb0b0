"""Signed requests end to end through the BFF: what passes, and each refusal with its code."""

from __future__ import annotations

import hashlib
import secrets
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update

from bff.app import create_app
from bff.auth.tables import Session
from bff.signing.canonical import canonical_string, signature
from tests.bff.signing.conftest import error_of, sign_in, signing_settings
from tests.support.apps import running_app
from tests.support.bff_accounts import bff_settings


async def test_a_signed_request_passes(client: httpx.AsyncClient) -> None:
    phone = await sign_in(client)

    answer = await phone.signed("GET", "/api/v1/me")

    assert answer.status_code == 200, answer.text
    assert answer.json()["email"] == "ada@example.com"


async def test_a_signed_query_and_body_pass(client: httpx.AsyncClient) -> None:
    phone = await sign_in(client)

    listed = await phone.signed("GET", "/api/v1/sessions?limit=5")
    graphql = await phone.signed("POST", "/graphql", json={"query": "{ __typename }"})

    assert listed.status_code == 200, listed.text
    assert graphql.status_code == 200, graphql.text
    assert graphql.json()["data"] == {"__typename": "Query"}


async def test_the_sign_in_answer_holds_a_key_once_and_refresh_keeps_it(
    client: httpx.AsyncClient,
) -> None:
    phone = await sign_in(client)
    assert len(phone.key) == 32

    refreshed = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": phone.tokens["refresh_token"]}
    )
    assert refreshed.status_code == 200
    assert refreshed.json()["signing_key"] is None
    phone.tokens = {**refreshed.json(), "signing_key": phone.tokens["signing_key"]}

    assert (await phone.signed("GET", "/api/v1/me")).status_code == 200


async def test_a_missing_signature_is_refused_where_required(client: httpx.AsyncClient) -> None:
    phone = await sign_in(client)

    answer = await client.get("/api/v1/me", headers=phone.headers())

    assert answer.status_code == 401
    assert error_of(answer)["code"] == "SIGNATURE_REQUIRED"
    assert error_of(answer)["action"] == "update_app"  # it has a key: an app that predates it


async def test_leaving_out_or_changing_the_platform_dodges_nothing(
    client: httpx.AsyncClient,
) -> None:
    ios = await sign_in(client, device_id="iphone")
    unnamed = await sign_in(client, email="bo@example.com", platform=None)

    as_android = await client.get("/api/v1/me", headers={**ios.headers(), "X-Platform": "android"})
    no_platform = await client.get("/api/v1/me", headers=unnamed.headers())

    assert error_of(as_android)["code"] == "SIGNATURE_REQUIRED"
    assert error_of(no_platform)["code"] == "SIGNATURE_REQUIRED"
    assert (await unnamed.signed("GET", "/api/v1/me")).status_code == 200


async def test_where_not_required_unsigned_works_and_a_bad_signature_is_still_refused(
    client: httpx.AsyncClient,
) -> None:
    android = await sign_in(client, device_id="pixel", platform="android")

    unsigned = await client.get("/api/v1/me", headers=android.headers())
    signed = await android.signed("GET", "/api/v1/me")
    bad = await android.signed("GET", "/api/v1/me", key=b"k" * 32)

    assert unsigned.status_code == 200
    assert signed.status_code == 200
    assert bad.status_code == 401
    assert error_of(bad)["code"] == "SIGNATURE_INVALID"


@pytest.mark.parametrize(
    ("signed_as", "sent_as"),
    [
        (("GET", "/api/v1/me"), ("GET", "/api/v1/sessions")),  # another path
        (("GET", "/api/v1/sessions?limit=1"), ("GET", "/api/v1/sessions?limit=2")),  # query
        (("POST", "/api/v1/me"), ("GET", "/api/v1/me")),  # another method
    ],
)
async def test_a_request_other_than_the_one_signed_is_refused(
    client: httpx.AsyncClient, signed_as: tuple[str, str], sent_as: tuple[str, str]
) -> None:
    phone = await sign_in(client)

    answer = await client.request(
        sent_as[0], sent_as[1], headers={**phone.headers(), **phone.signature(*signed_as)}
    )

    assert answer.status_code == 401
    assert error_of(answer)["code"] == "SIGNATURE_INVALID"
    assert error_of(answer)["action"] == "sign_in"


async def test_a_changed_body_is_refused(client: httpx.AsyncClient) -> None:
    phone = await sign_in(client)
    signed_body = b'{"query": "{ __typename }"}'
    sent_body = b'{"query": "{ __typename __typename }"}'

    answer = await client.post(
        "/graphql",
        content=sent_body,
        headers={
            **phone.headers(),
            **phone.signature("POST", "/graphql", signed_body),
            "content-type": "application/json",
        },
    )

    assert answer.status_code == 401
    assert error_of(answer)["code"] == "SIGNATURE_INVALID"


@pytest.mark.parametrize("skew_s", [-305, 305])  # past the 300 s window, whatever the clock does
async def test_a_timestamp_outside_the_window_is_refused(
    client: httpx.AsyncClient, skew_s: int
) -> None:
    phone = await sign_in(client)

    answer = await phone.signed("GET", "/api/v1/me", timestamp=int(time.time()) + skew_s)

    assert answer.status_code == 401
    error = error_of(answer)
    assert error["code"] == "REQUEST_EXPIRED"
    assert error["action"] == "retry"
    assert abs(error["details"]["server_time"] - time.time()) < 5


async def test_a_replayed_nonce_is_refused(client: httpx.AsyncClient) -> None:
    phone = await sign_in(client)
    headers = {**phone.headers(), **phone.signature("GET", "/api/v1/me")}

    first = await client.get("/api/v1/me", headers=headers)
    again = await client.get("/api/v1/me", headers=headers)

    assert first.status_code == 200
    assert again.status_code == 401
    assert error_of(again)["code"] == "REQUEST_REPLAYED"
    assert error_of(again)["retry"]["allowed"] is True


async def test_a_malformed_signature_is_refused(client: httpx.AsyncClient) -> None:
    phone = await sign_in(client)
    headers = {**phone.headers(), **phone.signature("GET", "/api/v1/me")}
    headers["X-Tern-Nonce"] = "short"

    answer = await client.get("/api/v1/me", headers=headers)

    assert error_of(answer)["code"] == "SIGNATURE_INVALID"


async def test_another_sessions_key_fails(client: httpx.AsyncClient) -> None:
    mine = await sign_in(client, device_id="iphone")
    other_device = await sign_in(client, device_id="ipad")
    other_user = await sign_in(client, email="bo@example.com", device_id="bos-phone")

    with_ipad_key = await mine.signed("GET", "/api/v1/me", key=other_device.key)
    with_bos_key = await mine.signed("GET", "/api/v1/me", key=other_user.key)

    assert error_of(with_ipad_key)["code"] == "SIGNATURE_INVALID"
    assert error_of(with_bos_key)["code"] == "SIGNATURE_INVALID"


async def test_a_session_without_a_key_is_told_to_sign_in(tmp_path: Path) -> None:
    app = create_app(signing_settings(tmp_path))
    async with running_app(app) as client:
        phone = await sign_in(client)
        async with app.state.runtime.db.transaction() as db:  # a session from before keys
            await db.execute(update(Session).values(signing_key=None))

        unsigned = await client.get("/api/v1/me", headers=phone.headers())
        signed = await phone.signed("GET", "/api/v1/me")

    assert error_of(unsigned)["code"] == "SIGNATURE_REQUIRED"
    assert error_of(unsigned)["action"] == "sign_in"
    assert error_of(signed)["code"] == "SIGNATURE_INVALID"


async def test_sign_in_refresh_and_expired_tokens_are_left_to_their_routes(
    client: httpx.AsyncClient,
) -> None:
    phone = await sign_in(client)

    refreshed = await client.post(
        "/api/v1/auth/refresh",
        json={"refresh_token": phone.tokens["refresh_token"]},
        headers={"X-Platform": "ios"},
    )
    bad_token = await client.get(
        "/api/v1/me", headers={"authorization": "Bearer nope", "X-Platform": "ios"}
    )

    assert refreshed.status_code == 200
    assert error_of(bad_token)["code"] == "TOKEN_INVALID"


async def test_a_signed_batch_covers_its_items(client: httpx.AsyncClient) -> None:
    phone = await sign_in(client)
    batch = {
        "requests": [{"id": "me", "path": "/api/v1/me"}, {"id": "s", "path": "/api/v1/sessions"}]
    }

    signed = await phone.signed("POST", "/api/v1/batch", json=batch)
    unsigned = await client.post("/api/v1/batch", json=batch, headers=phone.headers())

    assert signed.status_code == 200, signed.text
    assert [item["status"] for item in signed.json()["responses"]] == [200, 200]
    assert error_of(unsigned)["code"] == "SIGNATURE_REQUIRED"


async def test_a_batch_signed_by_one_session_does_not_cover_another_sessions_items(
    client: httpx.AsyncClient,
) -> None:
    mine = await sign_in(client, device_id="iphone")
    stolen = await sign_in(client, email="bo@example.com", device_id="bos-phone")
    item = {
        "id": "theirs",
        "path": "/api/v1/me",
        "headers": {"authorization": f"Bearer {stolen.tokens['access_token']}"},
    }

    answer = await mine.signed("POST", "/api/v1/batch", json={"requests": [item]})

    assert answer.status_code == 200
    (theirs,) = answer.json()["responses"]
    assert theirs["status"] == 401
    assert theirs["body"]["error"]["code"] == "SIGNATURE_INVALID"


async def test_an_upload_chunk_signs_its_declared_sha256(client: httpx.AsyncClient) -> None:
    phone = await sign_in(client)
    chunk = b"a,b\n1,2\n" * 1000
    declared = hashlib.sha256(chunk).hexdigest()
    target = "/api/v1/uploads/00000000-0000-0000-0000-000000000001/chunks/0"

    def signed(body_line: str, chunk_sha256: str) -> dict[str, str]:
        timestamp, nonce = str(int(time.time())), secrets.token_urlsafe(16)
        canonical = canonical_string("PUT", target, body_line, timestamp, nonce)
        return {
            **phone.headers(),
            "X-Tern-Timestamp": timestamp,
            "X-Tern-Nonce": nonce,
            "X-Tern-Signature": signature(phone.key, canonical),
            "X-Chunk-SHA256": chunk_sha256,
        }

    passed = await client.put(target, content=chunk, headers=signed(declared, declared))
    swapped = await client.put(target, content=chunk, headers=signed(declared, "0" * 64))

    # Past the signature: the datasets service (down in these tests) is what answers; it
    # refuses bytes that do not match X-Chunk-SHA256.
    assert passed.status_code == 503, passed.text
    assert error_of(swapped)["code"] == "SIGNATURE_INVALID"


async def test_a_replica_sharing_redis_refuses_a_nonce_another_saw(
    tmp_path: Path, shared_redis: str
) -> None:
    # Both replicas on one database (the sessions) and one Redis (the replay window).
    replicas = [create_app(signing_settings(tmp_path, redis_url=shared_redis)) for _ in ("a", "b")]
    async with running_app(replicas[0]) as a, running_app(replicas[1]) as b:
        phone = await sign_in(a)
        headers = {**phone.headers(), **phone.signature("GET", "/api/v1/me")}
        first = await a.get("/api/v1/me", headers=headers)
        on_b = await b.get("/api/v1/me", headers=headers)

    assert first.status_code == 200
    assert on_b.status_code == 401
    assert error_of(on_b)["code"] == "REQUEST_REPLAYED"


async def test_with_no_platform_listed_a_signature_sent_is_still_checked(tmp_path: Path) -> None:
    async with running_app(create_app(bff_settings(tmp_path))) as client:
        phone = await sign_in(client)

        unsigned = await client.get("/api/v1/me", headers=phone.headers())
        signed = await phone.signed("GET", "/api/v1/me")
        bad = await phone.signed("GET", "/api/v1/me", key=b"k" * 32)

    assert unsigned.status_code == 200
    assert signed.status_code == 200
    assert error_of(bad)["code"] == "SIGNATURE_INVALID"
