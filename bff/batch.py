"""Batch: many API requests in one round trip, each dispatched in-process through the app.

Each sub-request runs the whole middleware stack and its route like a request of its own (so
auth, the version gate and rate limits apply to each), with the batch's headers unless the
item overrides them. No network hop and no new connection: on a 100 ms link, ten reads cost
one round trip instead of ten.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import orjson
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.types import ASGIApp, Message, Scope

from bff.idempotency.keys import KEY_HEADER
from services.kit import request_context
from services.kit.errors import Action, ApiError

BATCH_PATH = "/api/v1/batch"
_API_PREFIX = "/api/v1/"
# Hop-by-hop or per-batch: never copied into a sub-request.
_NOT_INHERITED = frozenset(
    {
        b"content-length",
        b"content-type",
        b"accept-encoding",
        b"transfer-encoding",
        b"connection",
        b"if-none-match",
        # The batch's own key is the batch's; an item may send a key of its own.
        KEY_HEADER.encode(),
        # Each sub-request is a child span of the batch request, not of the phone's span.
        request_context.TRACEPARENT_HEADER.encode(),
    }
)
# What a sub-answer carries back of its headers.
_ANSWERED_HEADERS = frozenset(
    {
        "content-type",
        "etag",
        "cache-control",
        "idempotent-replayed",
        "location",
        "retry-after",
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
        "x-tern-keys",
    }
)


# The most items a batch may hold (what the contract documents); a deployment may lower it
# with TERN_BFF_BATCH_MAX_REQUESTS (answered 422 BATCH_TOO_LARGE).
MAX_ITEMS = 20


class BatchItem(BaseModel):
    """One request of a batch: an API path, its method, body and extra headers."""

    model_config = ConfigDict(extra="forbid")

    id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    path: Annotated[str, StringConstraints(min_length=1, max_length=2048)]
    body: Any = None
    headers: dict[str, str] | None = Field(default=None, max_length=20)


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    requests: list[BatchItem] = Field(min_length=1, max_length=MAX_ITEMS)
    sequential: bool = False


class BatchAnswer(BaseModel):
    """What one item answered: its own status, headers and body."""

    id: str
    status: int
    headers: dict[str, str]
    body: Any = None
    body_encoding: str | None = None


class BatchResponse(BaseModel):
    responses: list[BatchAnswer]


async def dispatch_batch(
    app: ASGIApp,
    parent: Scope,
    requests: list[BatchItem],
    *,
    sequential: bool,
    timeout_s: float,
) -> list[BatchAnswer]:
    """Run each sub-request through `app`: all at once, or one after another in order."""

    def run(item: BatchItem) -> asyncio.Task[BatchAnswer]:
        # A task of its own keeps each sub-request's context (request id, trace) apart.
        return asyncio.ensure_future(_dispatch_one(app, parent, item, timeout_s))

    if sequential:
        return [await run(item) for item in requests]
    return list(await asyncio.gather(*(run(item) for item in requests)))


async def _dispatch_one(
    app: ASGIApp, parent: Scope, item: BatchItem, timeout_s: float
) -> BatchAnswer:
    refused = _refusal(item)
    if refused is not None:
        return _error_answer(item.id, refused)
    scope, body = _sub_scope(parent, item)
    delivered = False
    start: Message | None = None
    chunks: list[bytes] = []

    async def receive() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # like a client that stays connected until the answer
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal start
        if message["type"] == "http.response.start":
            start = message
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    try:
        await asyncio.wait_for(app(scope, receive, send), timeout_s)
    except TimeoutError:
        return _error_answer(item.id, _timed_out(timeout_s))
    except Exception:  # the app already answered 500 and logged it; keep that answer
        if start is None:
            return _error_answer(item.id, ApiError(500, "INTERNAL_ERROR", "internal error"))
    if start is None:
        return _error_answer(item.id, ApiError(500, "INTERNAL_ERROR", "no answer"))
    return _answer(item.id, start, b"".join(chunks))


def _refusal(item: BatchItem) -> ApiError | None:
    for name, value in (item.headers or {}).items():
        if not (name.isascii() and value.isascii()):  # HTTP/1 and HTTP/2 headers are bytes
            return ApiError(
                400,
                "BATCH_HEADER_INVALID",
                f"header {name!r} of a batch item is not plain ASCII",
                action=Action.FIX_INPUT,
            )
    path = urlsplit(item.path).path
    if not path.startswith(_API_PREFIX):
        return ApiError(
            400,
            "BATCH_PATH_INVALID",
            f"a batch item must call {_API_PREFIX}...",
            action=Action.FIX_INPUT,
        )
    if path.rstrip("/") == BATCH_PATH:
        return ApiError(
            400, "BATCH_NESTED", "a batch cannot contain a batch", action=Action.FIX_INPUT
        )
    return None


def _sub_scope(parent: Scope, item: BatchItem) -> tuple[Scope, bytes]:
    split = urlsplit(item.path)
    headers = {
        name: value for name, value in parent["headers"] if name.lower() not in _NOT_INHERITED
    }
    body = b""
    if item.body is not None:
        body = orjson.dumps(item.body)
        headers[b"content-type"] = b"application/json"
        headers[b"content-length"] = str(len(body)).encode()
    for name, value in (item.headers or {}).items():
        headers[name.lower().encode("latin-1")] = value.encode("latin-1")
    headers.pop(b"x-request-id", None)
    trace = request_context.current_trace()
    if trace is not None:
        headers[request_context.TRACEPARENT_HEADER.encode()] = trace.traceparent().encode()
    scope: Scope = {
        **{
            key: parent[key]
            for key in ("type", "asgi", "http_version", "scheme", "server", "client")
            if key in parent
        },
        "method": item.method.upper(),
        "path": split.path,
        "raw_path": split.path.encode(),
        "query_string": split.query.encode(),
        "root_path": parent.get("root_path", ""),
        "headers": list(headers.items()),
        "state": dict(parent.get("state", {})),
        "app": parent.get("app"),
    }
    return scope, body


def _answer(item_id: str, start: Message, body: bytes) -> BatchAnswer:
    headers = {
        name.decode("latin-1"): value.decode("latin-1")
        for name, value in start.get("headers", [])
        if name.decode("latin-1").lower() in _ANSWERED_HEADERS
    }
    media_type = headers.get("content-type", "").split(";")[0]
    status: int = start["status"]
    if not body:
        return BatchAnswer(id=item_id, status=status, headers=headers)
    if media_type.endswith("json"):
        return BatchAnswer(id=item_id, status=status, headers=headers, body=orjson.loads(body))
    if media_type.startswith("text/"):
        text = body.decode("utf-8", "replace")
        return BatchAnswer(id=item_id, status=status, headers=headers, body=text)
    encoded = base64.b64encode(body).decode()
    return BatchAnswer(
        id=item_id, status=status, headers=headers, body=encoded, body_encoding="base64"
    )


def _error_answer(item_id: str, error: ApiError) -> BatchAnswer:
    headers = {"content-type": "application/json"}
    return BatchAnswer(id=item_id, status=error.status, headers=headers, body=error.body())


def _timed_out(timeout_s: float) -> ApiError:
    return ApiError(
        504,
        "BATCH_ITEM_TIMEOUT",
        f"the item took longer than {timeout_s} s",
        action=Action.RETRY,
        retry_allowed=True,
    )
