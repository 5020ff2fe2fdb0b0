import uuid

import jwt
import pytest

from bff.auth.access_tokens import AccessTokens
from services.kit.errors import Action, ApiError

SECRET = "test-jwt-secret-0123456789abcdef"


def test_a_token_carries_user_session_and_device() -> None:
    tokens = AccessTokens(SECRET, ttl_s=900)
    user_id, session_id = uuid.uuid4(), uuid.uuid4()

    token = tokens.mint(user_id, session_id, "phone-1")
    claims = tokens.verify(token)
    raw = jwt.decode(token, SECRET, algorithms=["HS256"], options={"verify_iss": False})

    assert (claims.user_id, claims.session_id, claims.device_id) == (user_id, session_id, "phone-1")
    assert raw["typ"] == "access"
    assert raw["exp"] - raw["iat"] == 900


def test_an_expired_token_asks_for_a_refresh() -> None:
    token = AccessTokens(SECRET, ttl_s=-60).mint(uuid.uuid4(), uuid.uuid4(), None)

    with pytest.raises(ApiError) as caught:
        AccessTokens(SECRET, ttl_s=900).verify(token)

    assert (caught.value.status, caught.value.code) == (401, "TOKEN_EXPIRED")
    assert caught.value.action == Action.REFRESH_TOKEN


@pytest.mark.parametrize(
    "token",
    [
        "not-a-jwt",
        AccessTokens("another-jwt-secret-0123456789abcdef", 900).mint(
            uuid.uuid4(), uuid.uuid4(), None
        ),
        jwt.encode({"sub": "x", "sid": "y", "typ": "refresh", "exp": 2**40, "iat": 0}, SECRET),
    ],
)
def test_tokens_that_are_not_ours_are_invalid(token: str) -> None:
    with pytest.raises(ApiError) as caught:
        AccessTokens(SECRET, ttl_s=900).verify(token)

    assert (caught.value.status, caught.value.code) == (401, "TOKEN_INVALID")
