from __future__ import annotations

import time

import jwt
import pytest

from services.kit.errors import ApiError
from services.kit.service_auth import ServiceTokenIssuer, ServiceTokenVerifier

SECRET = "s" * 32


def test_a_token_for_this_service_names_caller_and_user() -> None:
    token = ServiceTokenIssuer(SECRET, "bff").mint("datasets", "user-1")
    principal = ServiceTokenVerifier(SECRET, "datasets").verify(f"Bearer {token}")
    assert principal.caller == "bff"
    assert principal.user_id == "user-1"


def test_missing_token_is_401() -> None:
    with pytest.raises(ApiError) as err:
        ServiceTokenVerifier(SECRET, "datasets").verify(None)
    assert (err.value.status, err.value.code) == (401, "SERVICE_TOKEN_REQUIRED")


def test_token_for_another_audience_is_403() -> None:
    token = ServiceTokenIssuer(SECRET, "bff").mint("inference")
    with pytest.raises(ApiError) as err:
        ServiceTokenVerifier(SECRET, "datasets").verify(f"Bearer {token}")
    assert (err.value.status, err.value.code) == (403, "SERVICE_TOKEN_WRONG_AUDIENCE")


def test_a_service_takes_calls_only_from_its_callers() -> None:
    verifier = ServiceTokenVerifier(SECRET, "datasets", callers=frozenset({"bff", "training"}))
    from_training = ServiceTokenIssuer(SECRET, "training").mint("datasets", "user-1")
    from_inference = ServiceTokenIssuer(SECRET, "inference").mint("datasets", "user-1")

    assert verifier.verify(f"Bearer {from_training}").caller == "training"
    with pytest.raises(ApiError) as err:
        verifier.verify(f"Bearer {from_inference}")
    assert (err.value.status, err.value.code) == (403, "SERVICE_CALLER_NOT_ALLOWED")


def test_expired_and_forged_tokens_are_401() -> None:
    now = int(time.time())
    expired = jwt.encode(
        {"iss": "bff", "aud": "datasets", "iat": now - 120, "exp": now - 60}, SECRET, "HS256"
    )
    forged = ServiceTokenIssuer("another-secret-of-32-characters!", "bff").mint("datasets")
    verifier = ServiceTokenVerifier(SECRET, "datasets")
    for token in (expired, forged, "not-a-jwt"):
        with pytest.raises(ApiError) as err:
            verifier.verify(f"Bearer {token}")
        assert (err.value.status, err.value.code) == (401, "SERVICE_TOKEN_INVALID")


def test_long_lived_tokens_are_refused() -> None:
    token = ServiceTokenIssuer(SECRET, "bff", ttl_s=3600).mint("datasets")
    with pytest.raises(ApiError) as err:
        ServiceTokenVerifier(SECRET, "datasets").verify(f"Bearer {token}")
    assert err.value.status == 401


def test_an_issuer_reuses_a_token_per_audience_and_user() -> None:
    issuer = ServiceTokenIssuer(SECRET, "bff")
    first = issuer.mint("datasets", "user-1")
    assert issuer.mint("datasets", "user-1") == first
    assert issuer.mint("datasets", "user-2") != first
    assert issuer.mint("inference", "user-1") != first
    claims = jwt.decode(first, SECRET, algorithms=["HS256"], audience="datasets")
    assert claims["sub"] == "user-1"


def test_a_remembered_token_still_expires() -> None:
    clock = [time.time()]
    verifier = ServiceTokenVerifier(SECRET, "datasets", clock=lambda: clock[0])
    token = ServiceTokenIssuer(SECRET, "bff", ttl_s=60).mint("datasets", "user-1")
    assert verifier.verify(f"Bearer {token}").user_id == "user-1"
    clock[0] += 60 + 4  # past exp, within the leeway: still good, from memory
    assert verifier.verify(f"Bearer {token}").user_id == "user-1"
    clock[0] += 2
    with pytest.raises(ApiError) as err:
        verifier.verify(f"Bearer {token}")
    assert (err.value.status, err.value.code) == (401, "SERVICE_TOKEN_INVALID")
