"""Checking one signature: the session's key, the timestamp window, the HMAC and the nonce
seen once, by every replica. The HTTP middleware checks each API request with it; a GraphQL
WebSocket checks its sign-in (`connection_init`) with it, as a signed GET of its handshake.

Refusals, 401 in the mobile error format: SIGNATURE_REQUIRED, SIGNATURE_INVALID,
REQUEST_EXPIRED (with the BFF's clock in `details.server_time`) and REQUEST_REPLAYED.
"""

from __future__ import annotations

import hmac
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from bff.auth.signing_keys import SessionSigning, SigningKeys
from bff.signing.canonical import (
    EMPTY_BODY_SHA256,
    NONCE_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    canonical_string,
    signature,
    valid_nonce,
    valid_timestamp,
)
from bff.signing.policy import PlatformPolicy
from services.kit.cache import Cache
from services.kit.errors import Action, ApiError

SIGNATURE_FIELDS = (TIMESTAMP_HEADER.lower(), NONCE_HEADER.lower(), SIGNATURE_HEADER.lower())


@dataclass(frozen=True, slots=True)
class Presented:
    """The three signature values a request carried (None where absent)."""

    timestamp: str | None
    nonce: str | None
    signature: str | None

    @classmethod
    def of(cls, fields: Mapping[str, object]) -> Presented:
        """From headers (lowercase names) or a `connection_init` payload (any case)."""
        lowered = {str(name).lower(): value for name, value in fields.items()}
        values = [lowered.get(name) for name in SIGNATURE_FIELDS]
        timestamp, nonce, given = (value if isinstance(value, str) else None for value in values)
        return cls(timestamp, nonce, given)

    def __bool__(self) -> bool:
        return any((self.timestamp, self.nonce, self.signature))


@dataclass(frozen=True, slots=True)
class Signed:
    """A well-formed signature within the window, not yet checked against the request."""

    timestamp: int
    nonce: str
    given: str


@dataclass
class RequestSignatures:
    keys: SigningKeys
    cache: Cache
    policy: PlatformPolicy
    window_s: float
    clock: Callable[[], float] = field(default=time.time)

    @property
    def required_anywhere(self) -> bool:
        return bool(self.policy.platforms)

    async def signing_of(self, session_id: uuid.UUID) -> SessionSigning:
        return await self.keys.of_session(session_id) or SessionSigning(None, None)

    def missing(self, signing: SessionSigning) -> ApiError | None:
        """The refusal of an unsigned request of this session, if its platform must sign."""
        return signature_required(signing) if self.policy.applies_to(signing.platform) else None

    def parse(self, presented: Presented) -> Signed:
        """The signature's parts; SIGNATURE_INVALID when malformed, REQUEST_EXPIRED when its
        timestamp is outside the window."""
        raw_timestamp, nonce, given = (
            (value or "").strip()
            for value in (presented.timestamp, presented.nonce, presented.signature)
        )
        if not (valid_timestamp(raw_timestamp) and valid_nonce(nonce) and given):
            raise signature_invalid(
                f"{TIMESTAMP_HEADER} (unix seconds), {NONCE_HEADER} (16-64 of A-Z a-z 0-9 _ -) "
                f"and {SIGNATURE_HEADER} (hex) go together"
            )
        timestamp = int(raw_timestamp)
        now = self.clock()
        if abs(now - timestamp) > self.window_s:
            raise request_expired(now, self.window_s)
        return Signed(timestamp, nonce, given.lower())

    async def verify(
        self,
        session_id: uuid.UUID,
        signing: SessionSigning,
        signed: Signed,
        method: str,
        target: str,
        body_sha256: str,
    ) -> ApiError | None:
        """The refusal of this signature of `method target` (with that body), if any; a
        signature that passes has its nonce spent."""
        canonical = canonical_string(method, target, body_sha256, signed.timestamp, signed.nonce)
        expected = signature(signing.key, canonical) if signing.key is not None else None
        if expected is None or not hmac.compare_digest(expected, signed.given):
            return signature_invalid()
        # Remembered as long as its timestamp could still pass, by every replica.
        nonce_key = f"sig:nonce:{session_id}:{signed.nonce}"
        first = await self.cache.incr(nonce_key, 2 * self.window_s + 1)
        return None if first == 1 else request_replayed()

    async def check_handshake(
        self, session_id: uuid.UUID, target: str, presented: Presented
    ) -> ApiError | None:
        """The refusal of a body-less GET (a WebSocket's handshake) of this session, signed
        with `presented`, if any."""
        if not (presented or self.required_anywhere):
            return None
        signing = await self.signing_of(session_id)
        if not presented:
            return self.missing(signing)
        try:
            signed = self.parse(presented)
        except ApiError as error:
            return error
        return await self.verify(session_id, signing, signed, "GET", target, EMPTY_BODY_SHA256)


def signature_required(signing: SessionSigning) -> ApiError:
    """401: this session's platform signs every request. A session without a key (opened
    before keys were issued) gets one by signing in again; an app that has one but did not
    sign is a build that predates signing."""
    has_key = signing.key is not None
    return ApiError(
        401,
        "SIGNATURE_REQUIRED",
        f"requests of this app must be signed ({TIMESTAMP_HEADER}, {NONCE_HEADER}, "
        f"{SIGNATURE_HEADER})" + ("" if has_key else "; this session has no signing key"),
        user_message="Please update the app." if has_key else "Please sign in again.",
        action=Action.UPDATE_APP if has_key else Action.SIGN_IN,
    )


def signature_invalid(reason: str = "the signature does not match this request") -> ApiError:
    """401: wrong key, or the request is not the one signed; signing in again gets a new key."""
    return ApiError(401, "SIGNATURE_INVALID", reason, action=Action.SIGN_IN)


def request_expired(now: float, window_s: float) -> ApiError:
    """401: the timestamp is outside the window; sign again with the server's clock."""
    return ApiError(
        401,
        "REQUEST_EXPIRED",
        f"{TIMESTAMP_HEADER} is more than {int(window_s)} s from the server's clock",
        user_message="Please check your device's date and time.",
        action=Action.RETRY,
        retry_allowed=True,
        details={"server_time": int(now)},
    )


def request_replayed() -> ApiError:
    """401: this nonce was used already; a retry signs again with a new nonce."""
    return ApiError(
        401,
        "REQUEST_REPLAYED",
        f"this {NONCE_HEADER} was already used; sign each attempt with a new one",
        action=Action.RETRY,
        retry_allowed=True,
    )
