"""Service-to-service auth: short-lived JWTs whose audience is the service being called."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import jwt

from services.kit.errors import ApiError

_ALGORITHM = "HS256"
_LEEWAY_S = 5


@dataclass(frozen=True, slots=True)
class ServicePrincipal:
    """Who is calling: the calling service, and the user it acts for (if any)."""

    caller: str
    user_id: str | None


class ServiceTokenIssuer:
    """Mints tokens for outbound calls from one service."""

    def __init__(self, secret: str, issuer: str, ttl_s: int = 60) -> None:
        self._secret = secret
        self._issuer = issuer
        self._ttl_s = ttl_s

    def mint(self, audience: str, user_id: str | None = None) -> str:
        """A token valid for `ttl_s` seconds, for `audience` only, acting for `user_id`."""
        now = int(time.time())
        claims: dict[str, object] = {
            "iss": self._issuer,
            "aud": audience,
            "iat": now,
            "nbf": now,
            "exp": now + self._ttl_s,
            "jti": uuid.uuid4().hex,
        }
        if user_id is not None:
            claims["sub"] = user_id
        return jwt.encode(claims, self._secret, algorithm=_ALGORITHM)


class ServiceTokenVerifier:
    """Checks tokens on inbound internal calls to one service."""

    def __init__(self, secret: str, audience: str, max_ttl_s: int = 300) -> None:
        self._secret = secret
        self._audience = audience
        self._max_ttl_s = max_ttl_s

    def verify(self, authorization: str | None) -> ServicePrincipal:
        """The principal of a valid token; 401 when absent or invalid, 403 for another audience."""
        if not authorization or not authorization.lower().startswith("bearer "):
            raise ApiError(401, "SERVICE_TOKEN_REQUIRED", "a service token is required")
        token = authorization[7:].strip()
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[_ALGORITHM],
                audience=self._audience,
                leeway=_LEEWAY_S,
                options={"require": ["exp", "iat", "iss", "aud"]},
            )
        except jwt.InvalidAudienceError as exc:
            raise ApiError(
                403,
                "SERVICE_TOKEN_WRONG_AUDIENCE",
                f"this service token is not for the {self._audience} service",
            ) from exc
        except jwt.PyJWTError as exc:
            raise ApiError(401, "SERVICE_TOKEN_INVALID", f"invalid service token: {exc}") from exc
        if int(claims["exp"]) - int(claims["iat"]) > self._max_ttl_s:
            raise ApiError(401, "SERVICE_TOKEN_INVALID", "service token lives too long")
        sub = claims.get("sub")
        return ServicePrincipal(caller=str(claims["iss"]), user_id=str(sub) if sub else None)
