"""Idempotency-Key on the unsafe calls of the public REST API (see `keyed_requests.is_keyed`).

A signed-in request with the header claims its key in the user's "rest" scope. The first one
runs, and its answer (status, a few headers, body) is kept unless it is a 5xx, a 401 (a retry
after a token refresh must run) or a 408/429 (try again later), is streamed (Server-Sent
Events) or is larger than the store keeps: then the key is freed and a retry runs again. The
same key and request again: the kept answer, with `Idempotent-Replayed: true`. The same key
with another method, path, query or body: 422 IDEMPOTENCY_KEY_REUSED. While the first still
runs: 409 IDEMPOTENCY_KEY_IN_FLIGHT with Retry-After. Without a valid access token the header
is ignored: the route answers as it would (401 where it needs a user). A GraphQL mutation
sent by POST is keyed the same way, in a scope of its own (see `graphql_requests`).

Where it sits: inside the representation middleware (fields, compact keys, ETag,
compression), right around the routes. What it keeps is the route's own answer, plain JSON
before any content coding (`plain_json_answers` turns a `Represented` answer into that too);
a replay goes out through the representation middleware like a route's answer, so it is
encoded and compressed for the request that asks again, whatever Accept-Encoding the first
one sent. The request body is read whole to be fingerprinted: the body limit outside has
capped it already, and the routes with large bodies (chunks, model uploads) are not keyed.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bff.compact.representation import plain_json_answers
from bff.dependencies import bearer_token
from bff.idempotency.errors import key_in_flight, key_reused
from bff.idempotency.graphql_requests import (
    GRAPHQL_SCOPE,
    is_graphql_post,
    is_kept_answer,
    runs_a_mutation,
)
from bff.idempotency.keyed_requests import REST_SCOPE, is_keyed, request_fingerprint
from bff.idempotency.keys import KEY_HEADER, REPLAYED_HEADER, parse_key
from bff.idempotency.route_lookup import RouteLookup
from bff.idempotency.store import Claimed, IdempotencyStore, InFlight, Mismatch, Replay
from services.kit.asgi_body import read_body, replaying
from services.kit.error_responses import error_response
from services.kit.errors import ApiError
from services.kit.request_context import request_headers
from services.kit.structured_logging import get_logger

UserOfToken = Callable[[str], str | None]
"""The user id of a valid access token, else None (checked without the database)."""

# What a replay carries of the first answer's headers; the layers outside add their own.
_KEPT_HEADERS = frozenset(
    {"content-type", "content-disposition", "location", "etag", "last-modified", "cache-control"}
)
_NOT_KEPT_STATUSES = frozenset({401, 408, 429})
_STREAMED_TYPES = ("text/event-stream",)
_NO_BODY_STATUSES = frozenset({204, 304})

_log = get_logger(__name__)


class IdempotencyMiddleware:
    """Runs a keyed request once per user and key; answers retries with its kept answer."""

    def __init__(self, app: ASGIApp, *, store: IdempotencyStore, user_of: UserOfToken) -> None:
        self.app = app
        self.store = store
        self.user_of = user_of
        self.routes = RouteLookup()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        graphql = is_graphql_post(scope["method"], scope["path"])
        if not graphql and not is_keyed(scope["method"], scope["path"]):
            await self.app(scope, receive, send)
            return
        headers = request_headers(scope)
        raw_key = headers.get(KEY_HEADER)
        token = bearer_token(headers.get("authorization")) if raw_key is not None else None
        user = self.user_of(token) if token is not None else None
        if raw_key is None or user is None:
            await self.app(scope, receive, send)
            return
        body = await read_body(receive)
        if body is None:
            return  # the phone went away, or the body limit has answered 413
        if graphql and not runs_a_mutation(body):  # queries are not keyed
            await self.app(scope, replaying(body, receive), send)
            return
        try:
            key = parse_key(raw_key)
        except ApiError as exc:
            await error_response(exc)(scope, receive, send)
            return
        fingerprint = request_fingerprint(
            scope["method"], scope["path"], scope.get("query_string", b""), body
        )
        outcome = await self.store.claim(
            user, GRAPHQL_SCOPE if graphql else REST_SCOPE, key, fingerprint
        )
        if isinstance(outcome, Claimed):
            keep_if = is_kept_answer if graphql else None
            await self._run(scope, replaying(body, receive), send, outcome, keep_if)
        elif isinstance(outcome, Replay):
            await self._replay(scope, receive, send, outcome)
        elif isinstance(outcome, Mismatch):
            await error_response(key_reused())(scope, receive, send)
        elif isinstance(outcome, InFlight):
            await error_response(key_in_flight(outcome.retry_after_s))(scope, receive, send)

    async def _run(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        claimed: Claimed,
        keep_if: Callable[[bytes], bool] | None = None,
    ) -> None:
        plain_json_answers(scope)
        answer = _Answer(self.store.max_body_bytes)
        settled = False

        async def settle() -> None:
            nonlocal settled
            settled = True
            try:
                if answer.keepable and (keep_if is None or keep_if(answer.body)):
                    await self.store.complete(claimed, answer.status, answer.headers, answer.body)
                else:
                    await self.store.release(claimed)
            except Exception as exc:  # the answer still goes out; the lease frees the key
                _log.warning("idempotency_not_settled", error=type(exc).__name__)

        async def keeping_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer.start(message)
                if not answer.keepable:
                    await settle()  # a stream or an error: free the key now
            elif message["type"] == "http.response.body" and not settled:
                answer.add(message.get("body", b""))
                if not answer.keepable or not message.get("more_body", False):
                    await settle()  # kept before the phone can see the answer and retry
            await send(message)

        try:
            async with self.store.holding(claimed):
                await self.app(scope, receive, keeping_send)
        finally:
            if not settled:  # failed before it answered in full: a retry runs again
                answer.keepable = False
                await settle()

    async def _replay(self, scope: Scope, receive: Receive, send: Send, replay: Replay) -> None:
        self.routes.enter(scope)
        raw = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in replay.headers]
        raw.append((REPLAYED_HEADER.encode(), b"true"))
        if replay.status >= 200 and replay.status not in _NO_BODY_STATUSES:
            raw.append((b"content-length", str(len(replay.body)).encode()))
        await send({"type": "http.response.start", "status": replay.status, "headers": raw})
        await send({"type": "http.response.body", "body": replay.body})


class _Answer:
    """A route's answer as it goes out, held while it may still be kept."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.status = 500
        self.headers: list[tuple[str, str]] = []
        self.chunks: list[bytes] = []
        self.size = 0
        self.keepable = False

    def start(self, message: Message) -> None:
        self.status = message["status"]
        headers = Headers(raw=message.get("headers", []))
        self.headers = [(k, v) for k, v in headers.items() if k in _KEPT_HEADERS]
        media_type = headers.get("content-type", "").split(";")[0].strip()
        self.keepable = (
            self.status < 500
            and self.status not in _NOT_KEPT_STATUSES
            and media_type not in _STREAMED_TYPES
            and "content-encoding" not in headers  # encoded for this request only
        )

    def add(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.max_bytes:
            self.keepable, self.chunks = False, []
        elif self.keepable:
            self.chunks.append(chunk)

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)
