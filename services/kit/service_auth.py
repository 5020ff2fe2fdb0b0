"""Service-to-service auth: short-lived JWTs whose audience is the service being called.

Each service signs with its own Ed25519 key (EdDSA); the token's header names the key
(`kid`) and a verifier holds the public keys it trusts, each bound to the one service that
owns it: a token is refused when its key is unknown, when its `iss` is not the key's owner
(one service cannot speak for another), and when that service is not among the callee's
callers. Keys and their settings live in `services.kit.service_keys`.

Both ends keep what they already worked out: an issuer reuses a token for the first half of
its life (one signature per audience and user every 30 s, not per call), and a verifier
remembers the tokens it has checked until they expire (one Ed25519 check per token, not
per call). A cached token is the exact string that was verified, so caching trusts nothing
new.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import cachetools
import jwt

from services.kit.errors import ApiError
from services.kit.service_keys import SigningKey, TrustedKeys, derive_signing_key

_ALGORITHM = "EdDSA"
_LEEWAY_S = 5
_MAX_CACHED_TOKENS = 10_000


@dataclass(frozen=True, slots=True)
class ServicePrincipal:
    """Who is calling: the calling service, and the user it acts for (if any)."""

    caller: str
    user_id: str | None


class ServiceTokenIssuer:
    """Mints tokens for outbound calls from one service, signed with its own key.

    A `str` in place of the key is a development seed: the key is then derived for `issuer`
    (as settings do outside production without a configured key)."""

    def __init__(self, key: SigningKey | str, issuer: str, ttl_s: int = 60) -> None:
        self._key = derive_signing_key(key, issuer) if isinstance(key, str) else key
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
        return jwt.encode(
            claims, self._key.private_key, algorithm=_ALGORITHM, headers={"kid": self._key.kid}
        )


class ServiceTokenVerifier:
    """Checks tokens on inbound internal calls to one service.

    A `str` in place of the trusted keys is a development seed: every known service's
    derived public key is trusted (and `callers` still decides who may call)."""

    def __init__(
        self,
        trusted: TrustedKeys | str,
        audience: str,
        max_ttl_s: int = 300,
        clock: Callable[[], float] = time.time,
        callers: frozenset[str] | None = None,
    ) -> None:
        self._trusted = TrustedKeys.derived(trusted) if isinstance(trusted, str) else trusted
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
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError as exc:
            raise ApiError(401, "SERVICE_TOKEN_INVALID", f"invalid service token: {exc}") from exc
        key = self._trusted.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise ApiError(
                401,
                "SERVICE_TOKEN_INVALID",
                f"invalid service token: the {self._audience} service does not trust its key",
            )
        try:
            claims = jwt.decode(
                token,
                key.public_key,
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
        if caller != key.owner:
            # A service signing in another's name: the shared-secret hole this design closes.
            raise ApiError(
                401,
                "SERVICE_TOKEN_INVALID",
                f"invalid service token: signed with a key of {key.owner!r}, issued as {caller!r}",
            )
        if self._callers is not None and caller not in self._callers:
            raise ApiError(
                403,
                "SERVICE_CALLER_NOT_ALLOWED",
                f"the {self._audience} service takes no calls from {caller!r}",
            )
        sub = claims.get("sub")
        principal = ServicePrincipal(caller=caller, user_id=str(sub) if sub else None)
        return principal, int(claims["exp"])
