"""Signed-in devices: list, sign one out, sign out everywhere."""

from __future__ import annotations

import httpx

from tests.support.bff_accounts import PASSWORD, bearer, sign_up


async def _login(client: httpx.AsyncClient, device_id: str) -> dict[str, str]:
    response = await client.post(
        "/api/v1/auth/login",
        json={"email": "ada@example.com", "password": PASSWORD},
        headers={"X-Device-ID": device_id},
    )
    assert response.status_code == 200, response.text
    tokens: dict[str, str] = response.json()
    return tokens


async def test_sessions_list_the_signed_in_devices(client: httpx.AsyncClient) -> None:
    phone = await sign_up(client, device_id="phone")
    tablet = await _login(client, "tablet")

    response = await client.get("/api/v1/sessions", headers=bearer(phone))

    assert response.status_code == 200
    items = response.json()["items"]
    assert {item["device_id"] for item in items} == {"phone", "tablet"}
    assert [item["device_id"] for item in items if item["current"]] == ["phone"]
    page = await client.get("/api/v1/sessions", params={"limit": 1}, headers=bearer(tablet))
    rest = await client.get(
        "/api/v1/sessions", params={"cursor": page.json()["next_cursor"]}, headers=bearer(tablet)
    )
    assert len(page.json()["items"]) == len(rest.json()["items"]) == 1


async def test_revoking_a_session_signs_that_device_out(client: httpx.AsyncClient) -> None:
    phone = await sign_up(client, device_id="phone")
    tablet = await _login(client, "tablet")
    sessions = (await client.get("/api/v1/sessions", headers=bearer(phone))).json()["items"]
    tablet_session = next(item["id"] for item in sessions if item["device_id"] == "tablet")

    revoked = await client.delete(f"/api/v1/sessions/{tablet_session}", headers=bearer(phone))

    assert revoked.status_code == 204
    me = await client.get("/api/v1/me", headers=bearer(tablet))
    assert me.json()["error"]["code"] == "SESSION_REVOKED"
    refresh = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tablet["refresh_token"]}
    )
    assert refresh.status_code == 401
    assert (await client.get("/api/v1/me", headers=bearer(phone))).status_code == 200


async def test_another_users_session_answers_404(client: httpx.AsyncClient) -> None:
    ada = await sign_up(client, device_id="phone")
    bob = await sign_up(client, email="bob@example.com", device_id="bobs-phone")
    bobs = (await client.get("/api/v1/sessions", headers=bearer(bob))).json()["items"][0]["id"]

    response = await client.delete(f"/api/v1/sessions/{bobs}", headers=bearer(ada))

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "SESSION_NOT_FOUND"
    assert (await client.get("/api/v1/me", headers=bearer(bob))).status_code == 200


async def test_logout_all_ends_every_session(client: httpx.AsyncClient) -> None:
    phone = await sign_up(client, device_id="phone")
    tablet = await _login(client, "tablet")
    bob = await sign_up(client, email="bob@example.com", device_id="bobs-phone")

    response = await client.post("/api/v1/auth/logout-all", headers=bearer(phone))

    assert response.status_code == 204
    for tokens in (phone, tablet):
        me = await client.get("/api/v1/me", headers=bearer(tokens))
        assert me.json()["error"]["code"] == "SESSION_REVOKED"
        refresh = await client.post(
            "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
        )
        assert refresh.status_code == 401
    assert (await client.get("/api/v1/me", headers=bearer(bob))).status_code == 200
