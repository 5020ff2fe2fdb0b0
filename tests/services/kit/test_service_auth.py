from __future__ import annotations

import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bff.settings import BffSettings
from services.datasets.settings import DatasetsSettings
from services.inference.settings import InferenceSettings
from services.kit.errors import ApiError
from services.kit.service_auth import ServiceTokenIssuer, ServiceTokenVerifier
from services.kit.service_keys import (
    KNOWN_SERVICES,
    SigningKey,
    TrustedKey,
    TrustedKeys,
    derive_signing_key,
)
from services.kit.settings import ServiceSettings
from services.notifications.settings import NotificationsSettings
from services.training.settings import TrainingSettings

SECRET = "s" * 32
SETTINGS: dict[str, type[ServiceSettings]] = {
    "bff": BffSettings,
    "datasets": DatasetsSettings,
    "training": TrainingSettings,
    "inference": InferenceSettings,
    "notifications": NotificationsSettings,
}


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
    public_key = derive_signing_key(SECRET, "bff").public_key()
    claims = jwt.decode(first, public_key, algorithms=["EdDSA"], audience="datasets")
    assert claims["sub"] == "user-1"
    assert jwt.get_unverified_header(first)["kid"] == derive_signing_key(SECRET, "bff").kid


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


def _new_key() -> SigningKey:
    return SigningKey.from_private_key(Ed25519PrivateKey.generate())


def _trusting(*keys: tuple[str, SigningKey]) -> TrustedKeys:
    return TrustedKeys(TrustedKey.of(owner, key.public_key()) for owner, key in keys)


def _refusal(verifier: ServiceTokenVerifier, token: str) -> tuple[int, str]:
    with pytest.raises(ApiError) as err:
        verifier.verify(f"Bearer {token}")
    return err.value.status, err.value.code


def test_a_service_cannot_sign_in_the_bffs_name() -> None:
    """One key per service: holding training's key does not let one act as the BFF."""
    bff, training = _new_key(), _new_key()
    verifier = ServiceTokenVerifier(
        _trusting(("bff", bff), ("training", training)),
        "datasets",
        callers=frozenset({"bff", "training"}),
    )
    as_itself = ServiceTokenIssuer(training, "training").mint("datasets", "user-1")
    posing_as_bff = ServiceTokenIssuer(training, "bff").mint("datasets", "user-1")

    assert verifier.verify(f"Bearer {as_itself}").caller == "training"
    assert _refusal(verifier, posing_as_bff) == (401, "SERVICE_TOKEN_INVALID")


@pytest.mark.parametrize("holder", KNOWN_SERVICES)
def test_a_key_reaches_only_the_callees_that_accept_its_owner(holder: str) -> None:
    """Every service's own key, as settings build it, against every callee: it passes only
    where its owner is an accepted caller, and never in another service's name."""
    settings = {
        name: cls(environment="development", service_token_secret=SECRET)
        for name, cls in SETTINGS.items()
    }
    key = settings[holder].signing_key()
    assert key is not None
    for callee, callee_settings in settings.items():
        verifier = ServiceTokenVerifier(
            callee_settings.trusted_keys(), callee, callers=callee_settings.accepted_callers
        )
        own = ServiceTokenIssuer(key, holder).mint(callee, "user-1")
        if holder in callee_settings.accepted_callers:
            assert verifier.verify(f"Bearer {own}").caller == holder
        else:
            assert _refusal(verifier, own) == (403, "SERVICE_CALLER_NOT_ALLOWED"), callee
        for claimed in KNOWN_SERVICES:
            if claimed != holder:
                forged = ServiceTokenIssuer(key, claimed).mint(callee, "user-1")
                assert _refusal(verifier, forged) == (401, "SERVICE_TOKEN_INVALID"), (
                    callee,
                    claimed,
                )


def test_notifications_key_cannot_call_training() -> None:
    training = TrainingSettings(environment="development", service_token_secret=SECRET)
    verifier = ServiceTokenVerifier(
        training.trusted_keys(), "training", callers=training.accepted_callers
    )
    key = NotificationsSettings(
        environment="development", service_token_secret=SECRET
    ).signing_key()
    assert key is not None
    for claimed, refusal in (
        ("notifications", (403, "SERVICE_CALLER_NOT_ALLOWED")),
        ("bff", (401, "SERVICE_TOKEN_INVALID")),
    ):
        token = ServiceTokenIssuer(key, claimed).mint("training", "user-1")
        assert _refusal(verifier, token) == refusal


def test_a_token_with_an_unknown_or_no_kid_is_refused() -> None:
    bff = _new_key()
    verifier = ServiceTokenVerifier(_trusting(("bff", bff)), "datasets")
    unknown = ServiceTokenIssuer(_new_key(), "bff").mint("datasets")
    now = int(time.time())
    claims = {"iss": "bff", "aud": "datasets", "iat": now, "exp": now + 60}
    no_kid = jwt.encode(claims, bff.private_key, algorithm="EdDSA")
    for token in (unknown, no_kid):
        assert _refusal(verifier, token) == (401, "SERVICE_TOKEN_INVALID")


def test_hs256_tokens_are_refused_whatever_their_secret() -> None:
    """The old shared-secret tokens, and the algorithm confusion of an HMAC keyed with a
    trusted public key, both fail: only EdDSA with a trusted key passes."""
    bff = _new_key()
    verifier = ServiceTokenVerifier(_trusting(("bff", bff)), "datasets")
    now = int(time.time())
    claims = {"iss": "bff", "aud": "datasets", "iat": now, "exp": now + 60}
    shared = jwt.encode(claims, SECRET, algorithm="HS256", headers={"kid": bff.kid})
    with pytest.raises(ApiError) as err:
        verifier.verify(f"Bearer {shared}")
    assert (err.value.status, err.value.code) == (401, "SERVICE_TOKEN_INVALID")


def test_rotation_two_keys_at_once_then_the_old_one_is_refused() -> None:
    """Rotating the BFF's key: callees trust old and new while the BFF switches, then only new."""
    old, new = _new_key(), _new_key()
    from_old = ServiceTokenIssuer(old, "bff").mint("datasets", "user-1")
    from_new = ServiceTokenIssuer(new, "bff").mint("datasets", "user-1")
    during = ServiceTokenVerifier(
        TrustedKeys.parse(
            f"{TrustedKey.of('bff', old.public_key()).entry()},"
            f"{TrustedKey.of('bff', new.public_key()).entry()}"
        ),
        "datasets",
        callers=frozenset({"bff"}),
    )
    after = ServiceTokenVerifier(
        TrustedKeys.parse(TrustedKey.of("bff", new.public_key()).entry()),
        "datasets",
        callers=frozenset({"bff"}),
    )

    assert during.verify(f"Bearer {from_old}").caller == "bff"
    assert during.verify(f"Bearer {from_new}").caller == "bff"
    assert after.verify(f"Bearer {from_new}").caller == "bff"
    assert _refusal(after, from_old) == (401, "SERVICE_TOKEN_INVALID")
