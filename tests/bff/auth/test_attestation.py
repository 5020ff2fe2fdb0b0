"""Device attestation at sign-in: the challenge, the development stand-in, and the settings
that keep the stand-in out of production."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from bff.app import create_app
from bff.auth.attestation import DEVELOPMENT_TOKEN_PREFIX, DevelopmentAttestation
from bff.settings import BffSettings
from tests.support.apps import running_app
from tests.support.bff_accounts import JWT_SECRET, PASSWORD, bff_settings
from tests.support.service_keys import production_keys
from tests.support.settings import make_settings

_ANDROID = {"X-Platform": "android", "X-Device-ID": "pixel"}


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = bff_settings(tmp_path, attestation_required="android")
    async with running_app(create_app(settings)) as http:
        yield http


async def _challenge(client: httpx.AsyncClient) -> str:
    answer = await client.post("/api/v1/auth/attestation-challenge")
    assert answer.status_code == 200, answer.text
    assert answer.json()["expires_in"] == 300
    challenge: str = answer.json()["challenge"]
    return challenge


async def _register(
    client: httpx.AsyncClient, headers: dict[str, str], attestation: dict[str, str] | None
) -> httpx.Response:
    body: dict[str, Any] = {"email": "ada@example.com", "password": PASSWORD}
    if attestation is not None:
        body["attestation"] = attestation
    return await client.post("/api/v1/auth/register", json=body, headers=headers)


def _code(answer: httpx.Response) -> str:
    code: str = answer.json()["error"]["code"]
    return code


async def test_the_development_test_token_signs_in(client: httpx.AsyncClient) -> None:
    challenge = await _challenge(client)
    token = DEVELOPMENT_TOKEN_PREFIX + challenge

    answer = await _register(client, _ANDROID, {"token": token, "challenge": challenge})

    assert answer.status_code == 201, answer.text
    assert answer.json()["signing_key"]


async def test_another_token_is_refused(client: httpx.AsyncClient) -> None:
    challenge = await _challenge(client)

    answer = await _register(client, _ANDROID, {"token": "forged", "challenge": challenge})

    assert answer.status_code == 401
    assert _code(answer) == "ATTESTATION_FAILED"
    assert answer.json()["error"]["action"] == "contact_support"


async def test_a_sign_in_without_attestation_is_refused(client: httpx.AsyncClient) -> None:
    answer = await _register(client, _ANDROID, None)
    login = await client.post(
        "/api/v1/auth/login", json={"email": "ada@example.com", "password": "x"}, headers=_ANDROID
    )

    assert _code(answer) == "ATTESTATION_REQUIRED"
    # Checked before the password: a device that cannot attest cannot guess passwords.
    assert _code(login) == "ATTESTATION_REQUIRED"


async def test_a_challenge_works_once_and_only_if_issued(client: httpx.AsyncClient) -> None:
    challenge = await _challenge(client)
    attestation = {"token": DEVELOPMENT_TOKEN_PREFIX + challenge, "challenge": challenge}
    assert (await _register(client, _ANDROID, attestation)).status_code == 201

    again = await client.post(
        "/api/v1/auth/login",
        json={"email": "ada@example.com", "password": PASSWORD, "attestation": attestation},
        headers=_ANDROID,
    )
    made_up = await _register(
        client, _ANDROID, {"token": DEVELOPMENT_TOKEN_PREFIX + "x" * 43, "challenge": "x" * 43}
    )

    assert _code(again) == "ATTESTATION_CHALLENGE_INVALID"
    assert _code(made_up) == "ATTESTATION_CHALLENGE_INVALID"


async def test_a_platform_that_need_not_attest_is_not_asked(client: httpx.AsyncClient) -> None:
    answer = await _register(client, {"X-Platform": "ios"}, None)

    assert answer.status_code == 201


async def test_leaving_out_the_platform_does_not_skip_attestation(
    client: httpx.AsyncClient,
) -> None:
    challenge = await _challenge(client)
    attestation = {"token": DEVELOPMENT_TOKEN_PREFIX + challenge, "challenge": challenge}

    missing = await _register(client, {}, None)
    unknown = await _register(client, {"X-Platform": "web"}, attestation)

    assert _code(missing) == "ATTESTATION_REQUIRED"
    assert _code(unknown) == "ATTESTATION_FAILED"


async def test_the_stand_in_refuses_unknown_platforms_and_other_challenges() -> None:
    stand_in = DevelopmentAttestation()

    assert (await stand_in.verify("ios", DEVELOPMENT_TOKEN_PREFIX + "abc", "abc")).genuine
    assert not (await stand_in.verify("ios", DEVELOPMENT_TOKEN_PREFIX + "abc", "abd")).genuine
    assert not (await stand_in.verify("web", DEVELOPMENT_TOKEN_PREFIX + "abc", "abc")).genuine


def _production(tmp_path: Path, **overrides: Any) -> BffSettings:
    return make_settings(
        BffSettings,
        tmp_path,
        environment="production",
        jwt_secret=SecretStr(JWT_SECRET),
        metrics_token=SecretStr("m" * 32),
        **production_keys("bff"),
        **overrides,
    )


def test_production_refuses_the_stand_in_where_attestation_is_required(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="TERN_BFF_ATTESTATION_VERIFIER"):
        _production(tmp_path, attestation_required="ios,android")

    assert _production(tmp_path).attestation_verifier == "development"  # consulted by nobody
    plugged = _production(
        tmp_path, attestation_required="ios", attestation_verifier="some.module:verifier"
    )
    assert plugged.attestation_required == frozenset({"ios"})


def test_platform_lists_read_the_environments_form(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERN_BFF_SIGNED_REQUESTS", "ios, Android")
    monkeypatch.setenv("TERN_BFF_ATTESTATION_REQUIRED", "")

    settings = BffSettings()

    assert settings.signed_requests == frozenset({"ios", "android"})
    assert settings.attestation_required == frozenset()
    with pytest.raises(ValidationError, match="unknown platforms"):
        BffSettings(signed_requests="ios,web")
