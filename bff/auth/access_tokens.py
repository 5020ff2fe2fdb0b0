"""Short-lived access tokens: HS256 JWTs naming the user, the session and the device."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import jwt

from services.kit.errors import Action, ApiError

_ALGORITHM = "HS256"
_ISSUER = "tern-bff"
_TYPE = "access"
_LEEWAY_S = 5


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """What a valid access token says."""

    user_id: uuid.UUID
    session_id: uuid.UUID
    device_id: str | None
    expires_at: int


class AccessTokens:
    """Mints and checks access tokens with one secret."""

    def __init__(self, secret: str, ttl_s: int) -> None:
        self._secret = secret
        self.ttl_s = ttl_s

    def mint(self, user_id: uuid.UUID, session_id: uuid.UUID, device_id: str | None) -> str:
        """An access token valid for `ttl_s` seconds."""
        now = int(time.time())
        claims: dict[str, object] = {
            "iss": _ISSUER,
            "sub": str(user_id),
            "sid": str(session_id),
            "iat": now,
            "exp": now + self.ttl_s,
            "typ": _TYPE,
        }
        if device_id is not None:
            claims["did"] = device_id
        return jwt.encode(claims, self._secret, algorithm=_ALGORITHM)

    def verify(self, token: str) -> AccessClaims:
        """The claims of a valid token; 401 TOKEN_EXPIRED or TOKEN_INVALID otherwise."""
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[_ALGORITHM],
                issuer=_ISSUER,
                leeway=_LEEWAY_S,
                options={"require": ["exp", "iat", "sub", "sid", "typ"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise token_expired() from exc
        except jwt.PyJWTError as exc:
            raise token_invalid() from exc
        if claims.get("typ") != _TYPE:
            raise token_invalid()
        try:
            user_id, session_id = uuid.UUID(claims["sub"]), uuid.UUID(claims["sid"])
        except (TypeError, ValueError) as exc:
            raise token_invalid() from exc
        device_id = claims.get("did")
        return AccessClaims(
            user_id=user_id,
            session_id=session_id,
            device_id=str(device_id) if device_id is not None else None,
            expires_at=int(claims["exp"]),
        )


def token_expired() -> ApiError:
    """401: the access token expired; the app refreshes it and retries."""
    return ApiError(
        401,
        "TOKEN_EXPIRED",
        "the access token has expired",
        user_message="Your session needs a refresh.",
        action=Action.REFRESH_TOKEN,
    )


def token_invalid() -> ApiError:
    """401: the access token is not one of ours."""
    return ApiError(401, "TOKEN_INVALID", "the access token is not valid", action=Action.SIGN_IN)
