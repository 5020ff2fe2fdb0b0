"""Checks the signature of each signed-in API request (REST, /graphql, the batch endpoint).

A request with an access token of a live session is checked when its session's platform must
sign (BffSettings.signed_requests) or when it carries a signature at all: a bad one is
refused either way. Requests without a valid access token are left to the routes (sign-in,
refresh and public reads have no session key to sign with; an expired token gets its own 401
first). The body is read once, hashed and handed on; upload chunks are not read (see
canonical.py). A batch is checked as one request: its items, which its body holds, are not
checked again when they act for the same session.

The checks themselves are bff/signing/verifier.py's, which also checks a GraphQL WebSocket's
sign-in; the refusals are its, 401 in the mobile error format.
"""

from __future__ import annotations

import hashlib
import uuid

from starlette.types import ASGIApp, Receive, Scope, Send

from bff.auth.service import AuthService
from bff.dependencies import bearer_token
from bff.signing.canonical import EMPTY_BODY_SHA256, declared_body_sha256, request_target
from bff.signing.verifier import Presented, RequestSignatures
from services.kit.asgi_body import read_body, replaying
from services.kit.error_responses import error_response
from services.kit.errors import ApiError
from services.kit.request_context import request_headers

_COVERED = ("/api/", "/graphql")
# Scope state naming the session whose signature a request (a batch) carried: its items,
# dispatched in-process with a copy of that state, are covered by it.
_SIGNED_FOR = "tern.signed_for_session"


class SignedRequestMiddleware:
    """Refuses API requests whose signature is missing (where required), wrong, stale or
    replayed."""

    def __init__(self, app: ASGIApp, *, auth: AuthService, signatures: RequestSignatures) -> None:
        self.app = app
        self.auth = auth
        self.signatures = signatures

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(_COVERED):
            await self.app(scope, receive, send)
            return
        headers = request_headers(scope)
        presented = Presented.of(headers)
        if not (presented or self.signatures.required_anywhere):  # nothing to check: no lookups
            await self.app(scope, receive, send)
            return
        session_id = await self._session_of(headers)
        if session_id is None or scope.get("state", {}).get(_SIGNED_FOR) == session_id:
            await self.app(scope, receive, send)
            return
        signing = await self.signatures.signing_of(session_id)
        if not presented:
            refusal = self.signatures.missing(signing)
            if refusal is not None:
                await error_response(refusal)(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        try:
            signed = self.signatures.parse(presented)
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
        refusal = await self.signatures.verify(
            session_id, signing, signed, scope["method"], request_target(scope), body_sha256
        )
        if refusal is not None:
            await error_response(refusal)(scope, receive, send)
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
