"""Service-to-service auth: short-lived JWTs whose audience is the service being called.

Both ends keep what they already worked out: an issuer reuses a token for the first half of
its life (one HMAC per audience and user every 30 s, not per call), and a verifier remembers
the tokens it has checked until they expire (one decode per token, not per call). A cached
token is the exact string that was verified, so caching trusts nothing new.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import cachetools
import jwt

from services.kit.errors import ApiError

_ALGORITHM = "HS256"
_LEEWAY_S = 5
_MAX_CACHED_TOKENS = 10_000


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
        self._minted: cachetools.TTLCache[tuple[str, str | None], str] = cachetools.TTLCache(
            _MAX_CACHED_TOKENS, ttl=ttl_s / 2
        )

    def mint(self, audience: str, user_id: str | None = None) -> str:
        """A token valid for at least `ttl_s` / 2 more seconds, for `audience` only, acting
        for `user_id`."""
        key = (audience, user_id)
        token = self._minted.get(key)
        if token is None:
            token = self._minted[key] = self._mint(audience, user_id)
        return token

    def _mint(self, audience: str, user_id: str | None) -> str:
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

    def __init__(
        self,
        secret: str,
        audience: str,
        max_ttl_s: int = 300,
        clock: Callable[[], float] = time.time,
        callers: frozenset[str] | None = None,
    ) -> None:
        self._secret = secret
        self._audience = audience
        self._callers = callers  # None: any service
        self._max_ttl_s = max_ttl_s
        self._clock = clock
        # token -> (principal, exp): each entry is checked against its exp on every use.
        self._verified: cachetools.LRUCache[str, tuple[ServicePrincipal, int]] = (
            cachetools.LRUCache(_MAX_CACHED_TOKENS)
        )

    def verify(self, authorization: str | None) -> ServicePrincipal:
        """The principal of a valid token; 401 when absent or invalid, 403 for another audience."""
        if not authorization or not authorization.lower().startswith("bearer "):
            raise ApiError(401, "SERVICE_TOKEN_REQUIRED", "a service token is required")
        token = authorization[7:].strip()
        known = self._verified.get(token)
        if known is None:
            known = self._verified[token] = self._decode(token)
        principal, expires_at = known
        if self._clock() >= expires_at + _LEEWAY_S:
            self._verified.pop(token, None)
            raise ApiError(401, "SERVICE_TOKEN_INVALID", "invalid service token: it has expired")
        return principal

    def _decode(self, token: str) -> tuple[ServicePrincipal, int]:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[_ALGORITHM],
                audience=self._audience,
                leeway=_LEEWAY_S,
                # exp is checked by `verify` on every use, with this verifier's clock.
                options={"require": ["exp", "iat", "iss", "aud"], "verify_exp": False},
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
        caller = str(claims["iss"])
        if self._callers is not None and caller not in self._callers:
            raise ApiError(
                403,
                "SERVICE_CALLER_NOT_ALLOWED",
                f"the {self._audience} service takes no calls from {caller!r}",
            )
        sub = claims.get("sub")
        principal = ServicePrincipal(caller=caller, user_id=str(sub) if sub else None)
        return principal, int(claims["exp"])
