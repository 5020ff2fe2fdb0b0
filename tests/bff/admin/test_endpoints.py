"""The admin API: its own credential and scopes, each operation, the audit log, and bad
input answered in the mobile error format."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from tests.bff.admin.conftest import Admin
from tests.support.bff_accounts import bearer, sign_up

_OLD_IOS = {"X-Platform": "ios", "X-App-Version": "1.9.0", "X-Device-ID": "phone-1"}
_NEW_IOS = {"X-Platform": "ios", "X-App-Version": "2.3.0", "X-Device-ID": "phone-1"}
_URL = "https://apps.example/tern"


def _error(response: httpx.Response) -> dict[str, Any]:
    """The mobile error body, checked for its shape."""
    error: dict[str, Any] = response.json()["error"]
    assert set(error) >= {"code", "message", "user_message", "action", "retry"}
    return error


async def test_no_token_a_user_token_and_a_forged_one_are_refused(admin: Admin) -> None:
    user = await sign_up(admin.client)

    for headers in ({}, bearer(user), {"authorization": "Bearer tern_admin_forged"}):
        response = await admin.client.get("/admin/v1/config", headers=headers)
        assert response.status_code == 401
        assert _error(response)["code"] == "ADMIN_TOKEN_INVALID"


async def test_an_expired_or_revoked_token_is_refused(admin: Admin) -> None:
    expired = await admin.token(ttl=timedelta(microseconds=1))
    revoker = await admin.token(["tokens:write"])
    minted = await admin.client.post(
        "/admin/v1/tokens", json={"name": "ci", "scopes": ["config:read"]}, headers=revoker
    )
    assert minted.status_code == 201, minted.text
    token = {"authorization": f"Bearer {minted.json()['token']}"}
    assert (await admin.client.get("/admin/v1/config", headers=token)).status_code == 200

    revoked = await admin.client.delete(f"/admin/v1/tokens/{minted.json()['id']}", headers=revoker)
    after = await admin.client.get("/admin/v1/config", headers=token)
    stale = await admin.client.get("/admin/v1/config", headers=expired)

    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert after.status_code == stale.status_code == 401
    assert "revoked" in _error(after)["message"]
    assert "expired" in _error(stale)["message"]


async def test_a_missing_scope_is_refused_and_a_refused_write_is_audited(admin: Admin) -> None:
    reader = await admin.token(["config:read"])

    read = await admin.client.get("/admin/v1/config", headers=reader)
    write = await admin.client.put("/admin/v1/maintenance", json={"enabled": True}, headers=reader)
    other = await admin.client.get("/admin/v1/training/queue", headers=reader)

    assert read.status_code == 200
    assert write.status_code == other.status_code == 403
    assert _error(write)["code"] == "FORBIDDEN_SCOPE"
    assert _error(write)["details"] == {"required_scope": "config:write"}
    [entry] = await admin.audit()
    assert (entry["action"], entry["target"], entry["outcome"]) == (
        "maintenance.set",
        "/admin/v1/maintenance",
        "FORBIDDEN_SCOPE",
    )
    assert entry["token_id"] is not None


async def test_forcing_an_update_gates_old_apps_at_once(admin: Admin) -> None:
    token = await admin.token(["config:write", "config:read"])
    await admin.client.get("/api/v1/app-config", headers=_OLD_IOS)  # this replica caches it

    response = await admin.client.put(
        "/admin/v1/releases/ios",
        json={"min_version": "2.0.0", "latest_version": "2.3.0", "update_url": _URL},
        headers=token,
    )
    old = await admin.client.get("/api/v1/datasets", headers=_OLD_IOS)
    new = await admin.client.post("/api/v1/auth/login", json={}, headers=_NEW_IOS)
    config = await admin.client.get("/admin/v1/config", headers=token)

    assert response.status_code == 200, response.text
    assert old.status_code == 426
    assert _error(old)["details"] == {"min_version": "2.0.0", "update_url": _URL}
    assert new.status_code != 426
    assert config.json()["releases"] == [
        {"platform": "ios", "min_version": "2.0.0", "latest_version": "2.3.0", "update_url": _URL}
    ]
    [entry] = await admin.audit(action="release.set")
    assert (entry["target"], entry["outcome"]) == ("ios", "ok")
    assert entry["details"]["min_version"] == "2.0.0"


async def test_bad_release_input_answers_the_mobile_error(admin: Admin) -> None:
    token = await admin.token(["config:write"])

    wrong_order = await admin.client.put(
        "/admin/v1/releases/ios",
        json={"min_version": "3.0", "latest_version": "2.0", "update_url": _URL},
        headers=token,
    )
    platform = await admin.client.put(
        "/admin/v1/releases/windows", json={"latest_version": "1.0"}, headers=token
    )
    unknown_field = await admin.client.put(
        "/admin/v1/releases/ios", json={"minimum": "2.0"}, headers=token
    )

    assert wrong_order.status_code == platform.status_code == unknown_field.status_code == 422
    assert _error(wrong_order)["code"] == "VERSIONS_OUT_OF_ORDER"
    assert _error(platform)["code"] == "UNKNOWN_PLATFORM"
    assert _error(unknown_field)["code"] == "VALIDATION_FAILED"
    outcomes = {(e["target"], e["outcome"]) for e in await admin.audit(action="release.set")}
    assert outcomes == {("ios", "VERSIONS_OUT_OF_ORDER"), ("windows", "UNKNOWN_PLATFORM")}


async def test_rolling_a_flag_out_to_ten_percent(admin: Admin) -> None:
    token = await admin.token(["config:write"])

    response = await admin.client.patch(
        "/admin/v1/flags/new_ui", json={"rollout_percent": 10}, headers=token
    )
    on = 0
    for i in range(400):
        headers = {"X-Platform": "android", "X-Device-ID": f"device-{i}"}
        config = (await admin.client.get("/api/v1/app-config", headers=headers)).json()
        on += config["flags"]["new_ui"]
    narrowed = await admin.client.patch(
        "/admin/v1/flags/new_ui", json={"platforms": ["ios"]}, headers=token
    )

    assert response.json() == {
        "key": "new_ui",
        "enabled": True,
        "rollout_percent": 10,
        "platforms": None,
        "min_app_version": None,
        "max_app_version": None,
    }
    assert 20 <= on <= 60  # 10% of 400, by a stable hash of each device id
    assert narrowed.json()["rollout_percent"] == 10  # what was not sent is kept
    assert narrowed.json()["platforms"] == ["ios"]


async def test_bad_flag_input_and_deleting_flags(admin: Admin) -> None:
    token = await admin.token(["config:write"])

    too_much = await admin.client.patch(
        "/admin/v1/flags/new_ui", json={"rollout_percent": 101}, headers=token
    )
    bad_key = await admin.client.patch(
        "/admin/v1/flags/New%20UI", json={"rollout_percent": 5}, headers=token
    )
    await admin.client.patch("/admin/v1/flags/new_ui", json={}, headers=token)
    deleted = await admin.client.delete("/admin/v1/flags/new_ui", headers=token)
    missing = await admin.client.delete("/admin/v1/flags/new_ui", headers=token)

    assert too_much.status_code == 422 and _error(too_much)["code"] == "VALIDATION_FAILED"
    assert bad_key.status_code == 422 and _error(bad_key)["code"] == "INVALID_FLAG_KEY"
    assert deleted.status_code == 204
    assert missing.status_code == 404 and _error(missing)["code"] == "FLAG_NOT_FOUND"


async def test_maintenance_pauses_the_api_but_not_the_admin_api(admin: Admin) -> None:
    token = await admin.token(["config:write", "config:read"])

    on = await admin.client.put(
        "/admin/v1/maintenance", json={"enabled": True, "message": "Back at 14:00"}, headers=token
    )
    paused = await admin.client.get("/api/v1/datasets", headers=_NEW_IOS)
    still_admin = await admin.client.get("/admin/v1/config", headers=token)
    off = await admin.client.put("/admin/v1/maintenance", json={"enabled": False}, headers=token)
    back = await admin.client.get("/api/v1/datasets", headers=_NEW_IOS)

    assert on.status_code == 200
    assert paused.status_code == 503
    assert _error(paused)["code"] == "MAINTENANCE"
    assert _error(paused)["user_message"] == "Back at 14:00"
    assert still_admin.json()["maintenance"] == {"enabled": True, "message": "Back at 14:00"}
    assert off.status_code == 200
    assert back.status_code == 401  # past the gate: this call needs a user


async def test_a_users_sessions_listed_and_revoked(admin: Admin) -> None:
    ada = await sign_up(admin.client, email="ada@example.com", device_id="ada-phone")
    await admin.client.post(
        "/api/v1/auth/login",
        json={"email": "ada@example.com", "password": "correct horse battery"},
        headers={"X-Device-ID": "ada-tablet"},
    )
    reader, revoker = await admin.token(["users:read"]), await admin.token(["users:revoke"])

    user = await admin.client.get("/admin/v1/users/ada@example.com", headers=reader)
    sessions = await admin.client.get(
        f"/admin/v1/users/{ada['user']['id']}/sessions", headers=reader
    )
    phone = next(s for s in sessions.json()["items"] if s["device_id"] == "ada-phone")
    cannot = await admin.client.delete(
        f"/admin/v1/users/ada@example.com/sessions/{phone['id']}", headers=reader
    )
    revoked = await admin.client.delete(
        f"/admin/v1/users/ada@example.com/sessions/{phone['id']}", headers=revoker
    )
    signed_out = await admin.client.get("/api/v1/sessions", headers=bearer(ada))
    everywhere = await admin.client.delete(
        "/admin/v1/users/ada@example.com/sessions", headers=revoker
    )
    nobody = await admin.client.get("/admin/v1/users/nobody@example.com", headers=reader)

    assert user.json()["id"] == ada["user"]["id"]
    assert {s["device_id"] for s in sessions.json()["items"]} == {"ada-phone", "ada-tablet"}
    assert cannot.status_code == 403
    assert revoked.json() == {"sessions_ended": 1, "device_forgotten": False}
    assert signed_out.status_code == 401
    assert everywhere.json()["sessions_ended"] == 1
    assert nobody.status_code == 404 and _error(nobody)["code"] == "USER_NOT_FOUND"
    actions = [(e["action"], e["outcome"]) for e in await admin.audit()]
    assert actions[:2] == [("sessions.revoke_all", "ok"), ("session.revoke", "ok")]
    assert ("session.revoke", "FORBIDDEN_SCOPE") in actions


async def test_tokens_are_minted_listed_and_audited_without_their_secret(admin: Admin) -> None:
    token = await admin.token(["tokens:write"])

    minted = await admin.client.post(
        "/admin/v1/tokens",
        json={"name": "deploy-bot", "scopes": ["config:write"], "ttl_s": 3600},
        headers=token,
    )
    unknown = await admin.client.post(
        "/admin/v1/tokens", json={"name": "x", "scopes": ["root"]}, headers=token
    )
    listed = await admin.client.get("/admin/v1/tokens", headers=token)

    secret = minted.json()["token"]
    assert minted.status_code == 201 and secret.startswith("tern_admin_")
    assert unknown.status_code == 422 and _error(unknown)["code"] == "UNKNOWN_SCOPE"
    assert "deploy-bot" in {t["name"] for t in listed.json()["items"]}
    assert secret not in listed.text
    entries = await admin.audit(action="token.create")
    assert [e["outcome"] for e in entries] == ["UNKNOWN_SCOPE", "ok"]
    assert secret not in str(entries)
