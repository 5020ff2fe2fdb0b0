"""Checks the signature of each signed-in API request (REST, /graphql, the batch endpoint).

A request with an access token of a live session is checked when its session's platform must
sign (BffSettings.signed_requests) or when it carries a signature at all: a bad one is
refused either way. Requests without a valid access token are left to the routes (sign-in,
refresh and public reads have no session key to sign with; an expired token gets its own 401
first). The body is read once, hashed and handed on; upload chunks are not read (see
canonical.py). A batch is checked as one request: its items, which its body holds, are not
checked again when they act for the same session.

Refusals, 401 in the mobile error format: SIGNATURE_REQUIRED, SIGNATURE_INVALID,
REQUEST_EXPIRED (with the BFF's clock in `details.server_time`) and REQUEST_REPLAYED.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from bff.auth.service import AuthService
from bff.auth.signing_keys import SessionSigning, SigningKeys
from bff.dependencies import bearer_token
from bff.signing.canonical import (
    EMPTY_BODY_SHA256,
    NONCE_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    canonical_string,
    declared_body_sha256,
    signature,
    valid_nonce,
    valid_timestamp,
)
from bff.signing.policy import PlatformPolicy
from services.kit.asgi_body import read_body, replaying
from services.kit.cache import Cache
from services.kit.error_responses import error_response
from services.kit.errors import Action, ApiError
from services.kit.request_context import request_headers

_COVERED = ("/api/", "/graphql")
# Scope state naming the session whose signature a request (a batch) carried: its items,
# dispatched in-process with a copy of that state, are covered by it.
_SIGNED_FOR = "tern.signed_for_session"
_HEADERS = (TIMESTAMP_HEADER.lower(), NONCE_HEADER.lower(), SIGNATURE_HEADER.lower())


class SignedRequestMiddleware:
    """Refuses API requests whose signature is missing (where required), wrong, stale or
    replayed."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        auth: AuthService,
        keys: SigningKeys,
        cache: Cache,
        policy: PlatformPolicy,
        window_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.app = app
        self.auth = auth
        self.keys = keys
        self.cache = cache
        self.policy = policy
        self.window_s = window_s
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(_COVERED):
            await self.app(scope, receive, send)
            return
        headers = request_headers(scope)
        presented = [headers.get(name) for name in _HEADERS]
        if not (any(presented) or self.policy.platforms):  # nothing to check: no lookups
            await self.app(scope, receive, send)
            return
        session_id = await self._session_of(headers)
        if session_id is None or scope.get("state", {}).get(_SIGNED_FOR) == session_id:
            await self.app(scope, receive, send)
            return
        signing = await self.keys.of_session(session_id) or SessionSigning(None, None)
        if not any(presented):
            if self.policy.applies_to(signing.platform):
                await error_response(signature_required(signing))(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        try:
            timestamp, nonce, given = self._parse(presented)
        except ApiError as error:
            await error_response(error)(scope, receive, send)
            return
        body: bytes | None = None
        body_sha256 = declared_body_sha256(scope["method"], scope["path"], headers)
        if body_sha256 is None:
            body = await read_body(receive)
            if body is None:
                return  # the phone left (or the body limit has answered 413)
            body_sha256 = hashlib.sha256(body).hexdigest() if body else EMPTY_BODY_SHA256
        canonical = canonical_string(scope["method"], _target(scope), body_sha256, timestamp, nonce)
        if signing.key is None or not hmac.compare_digest(signature(signing.key, canonical), given):
            await error_response(signature_invalid())(scope, receive, send)
            return
        # Remembered as long as its timestamp could still pass, by every replica.
        first = await self.cache.incr(f"sig:nonce:{session_id}:{nonce}", 2 * self.window_s + 1)
        if first != 1:
            await error_response(request_replayed())(scope, receive, send)
            return
        scope.setdefault("state", {})[_SIGNED_FOR] = session_id
        await self.app(scope, replaying(body, receive) if body is not None else receive, send)

    async def _session_of(self, headers: dict[str, str]) -> uuid.UUID | None:
        token = bearer_token(headers.get("authorization"))
        if token is None:
            return None
        try:
            return (await self.auth.authenticate(token)).session_id
        except ApiError:
            return None  # the route answers the token's own 401 (expired: refresh first)

    def _parse(self, presented: list[str | None]) -> tuple[int, str, str]:
        raw_timestamp, nonce, given = (value.strip() if value else "" for value in presented)
        if not (valid_timestamp(raw_timestamp) and valid_nonce(nonce) and given):
            raise signature_invalid(
                f"{TIMESTAMP_HEADER} (unix seconds), {NONCE_HEADER} (16-64 of A-Z a-z 0-9 _ -) "
                f"and {SIGNATURE_HEADER} (hex) go together"
            )
        timestamp = int(raw_timestamp)
        now = self.clock()
        if abs(now - timestamp) > self.window_s:
            raise request_expired(now, self.window_s)
        return timestamp, nonce, given.lower()


def _target(scope: Scope) -> str:
    """The path and query as the phone sent them."""
    raw = scope.get("raw_path")
    path = raw.split(b"?", 1)[0].decode("latin-1") if raw else scope["path"]
    query = scope.get("query_string", b"").decode("latin-1")
    return f"{path}?{query}" if query else path


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
