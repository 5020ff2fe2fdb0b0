"""Sign-up, sign-in, refresh and sign-out over HTTP, as a phone does them."""

import httpx

from tests.support.bff_accounts import PASSWORD, bearer, sign_up


async def test_register_answers_tokens_and_the_user(client: httpx.AsyncClient) -> None:
    body = await sign_up(client, email="Ada@Example.com")

    assert body["user"]["email"] == "ada@example.com"
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    me = await client.get("/api/v1/me", headers=bearer(body))
    assert me.status_code == 200
    assert me.json()["id"] == body["user"]["id"]


async def test_a_taken_email_answers_409(client: httpx.AsyncClient) -> None:
    await sign_up(client)

    response = await client.post(
        "/api/v1/auth/register", json={"email": "ada@example.com", "password": PASSWORD}
    )

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "EMAIL_TAKEN"


async def test_a_short_password_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/auth/register", json={"email": "ada@example.com", "password": "short"}
    )

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "PASSWORD_TOO_SHORT"


async def test_bad_credentials_answer_one_error(client: httpx.AsyncClient) -> None:
    await sign_up(client)

    wrong = await client.post(
        "/api/v1/auth/login", json={"email": "ada@example.com", "password": "not it at all"}
    )
    unknown = await client.post(
        "/api/v1/auth/login", json={"email": "nobody@example.com", "password": PASSWORD}
    )

    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.json()["error"]["code"] == "INVALID_CREDENTIALS"


async def test_refresh_rotates_and_reuse_signs_the_device_out(client: httpx.AsyncClient) -> None:
    first = await sign_up(client)
    device = {"X-Device-ID": "device-1"}

    rotated = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}, headers=device
    )
    reused = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}, headers=device
    )

    assert rotated.status_code == 200
    assert rotated.json()["refresh_token"] != first["refresh_token"]
    assert reused.status_code == 401
    assert reused.json()["error"]["code"] == "REFRESH_TOKEN_REUSED"
    me = await client.get("/api/v1/me", headers=bearer(rotated.json()))
    assert me.json()["error"]["code"] == "SESSION_REVOKED"


async def test_logout_ends_the_session(client: httpx.AsyncClient) -> None:
    tokens = await sign_up(client)

    logout = await client.post("/api/v1/auth/logout", headers=bearer(tokens))
    me = await client.get("/api/v1/me", headers=bearer(tokens))

    assert logout.status_code == 204
    assert me.status_code == 401
    assert me.json()["error"]["code"] == "SESSION_REVOKED"


async def test_the_body_device_id_binds_the_session_when_no_header(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/api/v1/auth/register",
        json={"email": "ada@example.com", "password": PASSWORD, "device_id": "from-body"},
    )
    refresh_elsewhere = await client.post(
        "/api/v1/auth/refresh",
        json={"refresh_token": response.json()["refresh_token"]},
        headers={"X-Device-ID": "another-device"},
    )

    assert refresh_elsewhere.json()["error"]["code"] == "DEVICE_MISMATCH"


async def test_a_malformed_device_id_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/auth/register",
        json={"email": "ada@example.com", "password": PASSWORD},
        headers={"X-Device-ID": "no spaces/or slashes"},
    )

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "INVALID_DEVICE_ID"
