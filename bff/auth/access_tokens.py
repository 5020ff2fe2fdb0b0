"""Short-lived access tokens: HS256 JWTs naming the user, the session and the device."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import cachetools
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
    """Mints and checks access tokens with one secret. A token checked once is remembered
    (the exact string, so nothing new is trusted) and only its expiry is checked again."""

    def __init__(
        self,
        secret: str,
        ttl_s: int,
        clock: Callable[[], float] = time.time,
        max_remembered: int = 100_000,
    ) -> None:
        self._secret = secret
        self.ttl_s = ttl_s
        self._clock = clock
        self._checked: cachetools.LRUCache[str, AccessClaims] = cachetools.LRUCache(max_remembered)

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
        claims = self._checked.get(token)
        if claims is None:
            claims = self._checked[token] = self._decode(token)
        if self._clock() >= claims.expires_at + _LEEWAY_S:
            self._checked.pop(token, None)
            raise token_expired()
        return claims

    def _decode(self, token: str) -> AccessClaims:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[_ALGORITHM],
                issuer=_ISSUER,
                leeway=_LEEWAY_S,
                # exp is checked by `verify` on every use, with this instance's clock.
                options={"require": ["exp", "iat", "sub", "sid", "typ"], "verify_exp": False},
            )
        except jwt.PyJWTError as exc:
            raise token_invalid() from exc
        if claims.get("typ") != _TYPE:
            raise token_invalid()
        try:
            user_id, session_id = uuid.UUID(claims["sub"]), uuid.UUID(claims["sid"])
            expires_at = claims["exp"]
            if not isinstance(expires_at, int) or isinstance(expires_at, bool):
                raise TypeError("exp is not a whole number of seconds")
        except (TypeError, ValueError) as exc:
            raise token_invalid() from exc
        device_id = claims.get("did")
        return AccessClaims(
            user_id=user_id,
            session_id=session_id,
            device_id=str(device_id) if device_id is not None else None,
            expires_at=expires_at,
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
