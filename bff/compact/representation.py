"""One middleware shapes every JSON answer of /api/v1 for phones, whatever route made it.

In order: field selection (`?fields=`), compact encoding (`Accept:
application/vnd.tern.compact+json` or `?format=compact`), a strong ETag with `If-None-Match`
-> 304, a default Cache-Control, and compression by Accept-Encoding above a size threshold.
Streams (file downloads, event streams) and non-JSON answers pass through untouched.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import orjson
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bff.compact.codec import CompactError, encode
from bff.compact.compression import Compressors, choose_coding
from bff.compact.fields import MAX_FIELDS, parse_fields, response_tree, select
from bff.compact.schema import CompactSchema
from services.kit.errors import Action, ApiError

COMPACT_MEDIA_TYPE = "application/vnd.tern.compact+json"
KEYS_HEADER = "X-Tern-Keys"
DEFAULT_CACHE_CONTROL = "private, no-cache"
_JSON_TYPES = ("application/json", COMPACT_MEDIA_TYPE)
_VARY = "Accept, Accept-Encoding"


@dataclass(frozen=True, slots=True)
class Negotiation:
    """What a request asked of the representation."""

    compact: bool
    fields: list[str]
    coding: str | None
    if_none_match: str | None

    @classmethod
    def from_scope(cls, scope: Scope) -> Negotiation:
        """Read from the query string and headers; 400 on a bad `format` or too many fields."""
        headers = Headers(scope=scope)
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        formats = query.get("format", [])
        fmt = formats[-1] if formats else None
        if fmt not in (None, "json", "compact"):
            raise ApiError(
                400,
                "INVALID_FORMAT",
                "format must be json or compact",
                action=Action.FIX_INPUT,
            )
        accept = headers.get("accept", "")
        fields = [path for raw in query.get("fields", []) for path in parse_fields(raw)]
        if len(fields) > MAX_FIELDS:
            raise ApiError(
                400,
                "TOO_MANY_FIELDS",
                f"at most {MAX_FIELDS} fields may be selected",
                action=Action.FIX_INPUT,
            )
        return cls(
            compact=fmt == "compact" or (fmt is None and COMPACT_MEDIA_TYPE in accept),
            fields=fields,
            coding=choose_coding(headers.get("accept-encoding")),
            if_none_match=headers.get("if-none-match"),
        )


class RepresentationMiddleware:
    """Fields, compact encoding, ETag/304, Cache-Control and compression for JSON answers."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        prefix: str,
        min_compress_bytes: int,
        compressors: Compressors | None = None,
    ) -> None:
        self.app = app
        self.prefix = prefix
        self.min_compress_bytes = min_compress_bytes
        self.compressors = compressors or Compressors()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        try:
            negotiation = Negotiation.from_scope(scope)
        except ApiError as exc:
            await exc.response()(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []
        passthrough = False

        async def buffered_send(message: Message) -> None:
            nonlocal start, passthrough
            if message["type"] == "http.response.start":
                headers = Headers(raw=message["headers"])
                media_type = headers.get("content-type", "").split(";")[0].strip()
                passthrough = media_type not in _JSON_TYPES or "content-encoding" in headers
                if passthrough:
                    await send(message)
                else:
                    start = message
                return
            if passthrough or message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                await self._finish(scope, negotiation, start, b"".join(chunks), send)

        await self.app(scope, receive, buffered_send)

    async def _finish(
        self, scope: Scope, negotiation: Negotiation, start: Message, body: bytes, send: Send
    ) -> None:
        status: int = start["status"]
        headers = MutableHeaders(raw=list(start["headers"]))
        if 200 <= status < 300 and (negotiation.compact or negotiation.fields):
            try:
                body = self._shape(scope, negotiation, body, headers)
            except ApiError as exc:
                status, headers, body = _error_parts(exc)
        method = scope["method"]
        coding = negotiation.coding if len(body) >= self.min_compress_bytes else None
        if method in ("GET", "HEAD") and status == 200:
            etag = strong_etag(body, coding)
            headers.setdefault("cache-control", DEFAULT_CACHE_CONTROL)
            if etag_matches(negotiation.if_none_match, etag):
                await _send_not_modified(send, headers, etag)
                return
            headers["etag"] = etag
        _append_vary(headers)
        if coding is not None:
            body = self.compressors.compressor(coding)(body)
            headers["content-encoding"] = coding
        headers["content-length"] = str(len(body))
        await send({"type": "http.response.start", "status": status, "headers": headers.raw})
        await send({"type": "http.response.body", "body": body if method != "HEAD" else b""})

    def _shape(
        self, scope: Scope, negotiation: Negotiation, body: bytes, headers: MutableHeaders
    ) -> bytes:
        schema = compact_schema_of(scope)
        route = scope.get("route")
        spec = schema.spec_of(getattr(route, "response_model", None))
        data: Any = orjson.loads(body)
        if negotiation.fields and scope["method"] in ("GET", "HEAD"):
            data = _select_fields(data, spec, schema, negotiation.fields)
        if negotiation.compact and spec is not None:
            try:
                data = encode(data, spec, schema.resources)
            except CompactError:
                return orjson.dumps(data)  # an answer the key map does not describe stays JSON
            headers["content-type"] = COMPACT_MEDIA_TYPE
            resource = spec.get("ref") or spec.get("of", {}).get("ref") or spec["t"]
            headers[KEYS_HEADER] = f"{resource};v={schema.version}"
        return orjson.dumps(data)


def compact_schema_of(scope: Scope) -> CompactSchema:
    """The key maps of the app serving `scope`, built on first use."""
    app = scope["app"]
    schema = getattr(app.state, "compact_schema", None)
    if not isinstance(schema, CompactSchema):
        schema = CompactSchema.from_routes(app.routes, "/api/")
        app.state.compact_schema = schema
    return schema


def _select_fields(data: Any, spec: Any, schema: CompactSchema, paths: list[str]) -> Any:
    if spec is None:
        raise ApiError(
            400,
            "FIELDS_NOT_SUPPORTED",
            "this route does not support field selection",
            action=Action.FIX_INPUT,
        )
    tree, unknown = response_tree(paths, spec, schema.resources)
    if unknown:
        raise ApiError(
            400,
            "UNKNOWN_FIELDS",
            f"unknown fields: {', '.join(unknown)}",
            action=Action.FIX_INPUT,
            details={"fields": unknown},
        )
    return select(data, tree)


def strong_etag(body: bytes, coding: str | None = None) -> str:
    """A strong validator of these bytes in a content coding (each coding has its own)."""
    digest = hashlib.blake2b(body, digest_size=16).hexdigest()
    return f'"{digest}-{coding}"' if coding else f'"{digest}"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Whether If-None-Match names this representation (in any content coding) or is `*`."""
    if not if_none_match:
        return False
    wanted = etag.strip('"').split("-", 1)[0]
    for tag in if_none_match.split(","):
        tag = tag.strip()
        if tag == "*":
            return True
        opaque = tag.removeprefix("W/").strip('"')
        if opaque == wanted or opaque.split("-", 1)[0] == wanted:
            return True
    return False


async def _send_not_modified(send: Send, headers: MutableHeaders, etag: str) -> None:
    kept = MutableHeaders()
    for name in ("cache-control", "vary", "x-request-id", KEYS_HEADER.lower()):
        if name in headers:
            kept[name] = headers[name]
    kept["etag"] = etag
    _append_vary(kept)
    await send({"type": "http.response.start", "status": 304, "headers": kept.raw})
    await send({"type": "http.response.body", "body": b""})


def _append_vary(headers: MutableHeaders) -> None:
    existing = headers.get("vary")
    headers["vary"] = f"{existing}, {_VARY}" if existing else _VARY


def _error_parts(exc: ApiError) -> tuple[int, MutableHeaders, bytes]:
    response = exc.response()
    body = bytes(response.body)
    return response.status_code, MutableHeaders(raw=list(response.raw_headers)), body
