"""The fake FCM speaks HTTP v1 with OAuth2 service-account tokens and Google's error format."""

from __future__ import annotations

import httpx

from services.fake_push.fcm import JWT_BEARER_GRANT
from tests.support.provider_tokens import fcm_access_token

SEND = "/v1/projects/tern-dev/messages:send"


def _message(token: str = "fcm-token-1", **extra: object) -> dict[str, object]:
    return {
        "message": {
            "token": token,
            "notification": {"title": "Model ready"},
            "data": {"model_id": "m-1"},
            "android": {"priority": "HIGH", "ttl": "3600s", "collapse_key": "model"},
            **extra,
        }
    }


async def test_token_exchange_then_send_is_recorded(h2: httpx.AsyncClient) -> None:
    access = await fcm_access_token(h2)
    response = await h2.post(SEND, json=_message(), headers={"authorization": f"Bearer {access}"})
    assert response.http_version == "HTTP/2"
    assert response.status_code == 200
    assert response.json()["name"].startswith("projects/tern-dev/messages/")
    received = (await h2.get("/_fake/received", params={"platform": "android"})).json()
    assert [r["token"] for r in received] == ["fcm-token-1"]
    assert received[0]["payload"]["android"]["collapse_key"] == "model"


async def test_token_endpoint_refuses_other_grants_and_bad_assertions(
    h2: httpx.AsyncClient,
) -> None:
    other = await h2.post("/token", data={"grant_type": "password", "assertion": "x"})
    assert (other.status_code, other.json()["error"]) == (400, "unsupported_grant_type")
    bad = await h2.post("/token", data={"grant_type": JWT_BEARER_GRANT, "assertion": "x.y.z"})
    assert (bad.status_code, bad.json()["error"]) == (400, "invalid_grant")


async def test_send_without_a_valid_access_token_is_401(h2: httpx.AsyncClient) -> None:
    missing = await h2.post(SEND, json=_message())
    wrong = await h2.post(SEND, json=_message(), headers={"authorization": "Bearer nope"})
    for response in (missing, wrong):
        assert response.status_code == 401
        assert response.json()["error"]["status"] == "UNAUTHENTICATED"


async def test_errors_use_googles_format(h2: httpx.AsyncClient) -> None:
    auth = {"authorization": f"Bearer {await fcm_access_token(h2)}"}
    unregistered = await h2.post(SEND, json=_message("invalid-1"), headers=auth)
    assert unregistered.status_code == 404
    error = unregistered.json()["error"]
    assert (error["code"], error["status"]) == (404, "NOT_FOUND")
    assert error["details"][0] == {
        "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
        "errorCode": "UNREGISTERED",
    }
    too_big = await h2.post(SEND, json=_message(data={"blob": "x" * 5000}), headers=auth)
    assert too_big.status_code == 400
    assert too_big.json()["error"]["details"][0]["errorCode"] == "INVALID_ARGUMENT"

    await h2.post(
        "/_fake/failures",
        json={"platform": "fcm", "status": 429, "reason": "QUOTA_EXCEEDED", "retry_after": 7},
    )
    await h2.post(
        "/_fake/failures", json={"platform": "fcm", "status": 503, "reason": "UNAVAILABLE"}
    )
    quota = await h2.post(SEND, json=_message(), headers=auth)
    assert quota.status_code == 429
    assert quota.headers["retry-after"] == "7"
    assert quota.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    unavailable = await h2.post(SEND, json=_message(), headers=auth)
    assert unavailable.status_code == 503
    assert unavailable.json()["error"]["details"][0]["errorCode"] == "UNAVAILABLE"
    assert (await h2.post(SEND, json=_message(), headers=auth)).status_code == 200
    assert len((await h2.get("/_fake/received")).json()) == 1


async def test_http1_clients_are_served_on_the_same_port(fake_push_url: str) -> None:
    async with httpx.AsyncClient(base_url=fake_push_url) as http1:
        response = await http1.get("/_fake/received")
    assert response.http_version == "HTTP/1.1"
    assert response.json() == []
