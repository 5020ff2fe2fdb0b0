"""One middleware shapes every JSON answer of /api/v1 for phones, whatever route made it.

In order: field selection (`?fields=`), compact encoding (`Accept:
application/vnd.tern.compact+json` or `?format=compact`), a strong ETag with `If-None-Match`
-> 304, a default Cache-Control, and compression by Accept-Encoding above a size threshold;
for the families of small answers that have compression dictionaries (sync, changes,
notifications, dashboard: one for JSON answers, one for compact ones), dcz with the one of
the representation asked for when the client holds it (RFC 9842), and a `Link` to it when
the client does not. Streams (file downloads, event streams) and non-JSON answers pass
through untouched.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import cachetools
import orjson
from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bff.compact.codec import CompactError, encode
from bff.compact.compression import Compressors, choose_coding
from bff.compact.compression_dictionaries import (
    DCZ,
    CompressionDictionaries,
    CompressionDictionary,
    available_dictionary,
    committed_dictionaries,
)
from bff.compact.fields import MAX_FIELDS, parse_fields, response_tree, select
from bff.compact.schema import CompactSchema
from services.kit.error_responses import error_response
from services.kit.errors import Action, ApiError
from services.kit.request_context import request_headers

COMPACT_MEDIA_TYPE = "application/vnd.tern.compact+json"
KEYS_HEADER = "X-Tern-Keys"
DEFAULT_CACHE_CONTROL = "private, no-cache"
_JSON_TYPES = ("application/json", COMPACT_MEDIA_TYPE)
_VARY = "Accept, Accept-Encoding"
_VARY_DICTIONARY = f"{_VARY}, Available-Dictionary"
# Below this dcz saves next to nothing: its header is 40 bytes and a zstd frame ~10 more.
DCZ_MIN_BYTES = 96
# Per-request scope keys: the parsed negotiation, the representer, and "answered by it".
_NEGOTIATION = "tern.negotiation"
_REPRESENTER = "tern.representer"
_REPRESENTED = "tern.represented"
_READ_BY_POST = "tern.read_by_post"


@dataclass(frozen=True, slots=True)
class Negotiation:
    """What a request asked of the representation."""

    compact: bool
    fields: list[str]
    coding: str | None
    if_none_match: str | None
    # The compression dictionary of this path's family for the representation asked for
    # (JSON or compact), and the coding to fall back to where dcz is not used (an error, a
    # tiny answer).
    dictionary: CompressionDictionary | None = None
    plain_coding: str | None = None

    @classmethod
    def from_scope(
        cls, scope: Scope, dictionaries: CompressionDictionaries | None = None
    ) -> Negotiation:
        """Read from the query string and headers; 400 on a bad `format` or too many fields."""
        headers = request_headers(scope)
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
        compact = fmt == "compact" or (fmt is None and COMPACT_MEDIA_TYPE in accept)
        accept_encoding = headers.get("accept-encoding")
        plain = choose_coding(accept_encoding)
        # The dictionary of the representation asked for: a client that holds only the other
        # one gets the usual coding and a Link to this one.
        dictionary = (dictionaries or committed_dictionaries()).for_path(scope["path"], compact)
        held = dictionary is not None and (
            available_dictionary(headers.get("available-dictionary")) == dictionary.sha256
        )
        return cls(
            compact=compact,
            fields=fields,
            coding=choose_coding(accept_encoding, dictionary=True) if held else plain,
            if_none_match=headers.get("if-none-match"),
            dictionary=dictionary,
            plain_coding=plain,
        )

    @property
    def vary(self) -> str:
        """What the answer varies by: with a dictionary, the one the client holds too."""
        return _VARY if self.dictionary is None else _VARY_DICTIONARY


class Representer:
    """Turns an answer into what the phone asked for: fields, compact keys, ETag (304),
    Cache-Control, compression. Works on the answer's data; bytes only at the end.

    A route that knows when its answer changes passes a `validator` (a string that changes
    whenever the data does, such as the change versions it was built from): its ETag then
    comes from the validator, a matching If-None-Match is answered 304 before anything is
    encoded, and the encoded answer is kept for the next identical request."""

    def __init__(
        self,
        *,
        min_compress_bytes: int,
        compressors: Compressors | None = None,
        max_kept_bytes: int = 64 * 1024 * 1024,
        dictionaries: CompressionDictionaries | None = None,
    ) -> None:
        self.min_compress_bytes = min_compress_bytes
        self.compressors = compressors or Compressors()
        self.dictionaries = dictionaries
        # (ETag, coding) -> (headers, body): what validated answers encoded to.
        self._kept: cachetools.LRUCache[tuple[str, str | None], tuple[list[Any], bytes]] = (
            cachetools.LRUCache(max_kept_bytes, getsizeof=lambda kept: len(kept[1]) + 512)
        )

    async def send_data(
        self,
        scope: Scope,
        send: Send,
        data: Any,
        *,
        status: int = 200,
        headers: MutableHeaders | None = None,
        validator: str | None = None,
    ) -> None:
        """Answer `data` (plain JSON values) as this request negotiated."""
        negotiation = negotiation_of(scope)
        headers = headers if headers is not None else MutableHeaders()
        headers.setdefault("content-type", "application/json")
        method = scope["method"]
        if validator is None or method not in ("GET", "HEAD") or status != 200:
            status, headers, body = self._encode(scope, negotiation, status, headers, data)
            await self._finish(scope, negotiation, status, headers, body, send)
            return
        variant = f"{validator}|{int(negotiation.compact)}|{','.join(negotiation.fields)}"
        etag = f'"v{hashlib.blake2b(variant.encode(), digest_size=16).hexdigest()}"'
        headers.setdefault("cache-control", DEFAULT_CACHE_CONTROL)
        if etag_matches(negotiation.if_none_match, etag):
            await _send_not_modified(send, headers, etag, negotiation)
            return
        kept = self._kept.get((etag, negotiation.coding))
        if kept is None:
            status, headers, body = self._encode(scope, negotiation, status, headers, data)
            if status != 200:  # the request itself was refused (unknown fields)
                await self._finish(scope, negotiation, status, headers, body, send)
                return
            coding = self._coding_for(negotiation, status, body)
            headers["etag"] = _with_coding(etag, _coding_tag(negotiation, coding))
            _append_vary(headers, negotiation)
            body = self._compress(headers, negotiation, coding, body)
            kept = self._kept[etag, negotiation.coding] = (headers.raw, body)
        await _send(send, 200, list(kept[0]), kept[1], method)  # outer layers add headers

    async def send_body(self, scope: Scope, send: Send, start: Message, body: bytes) -> None:
        """Answer a JSON body another route encoded (decoded once more when it is shaped)."""
        negotiation = negotiation_of(scope)
        status: int = start["status"]
        headers = MutableHeaders(raw=list(start["headers"]))
        if 200 <= status < 300 and (negotiation.compact or negotiation.fields):
            data = orjson.loads(body)
            status, headers, body = self._encode(scope, negotiation, status, headers, data)
        await self._finish(scope, negotiation, status, headers, body, send)

    def _encode(
        self,
        scope: Scope,
        negotiation: Negotiation,
        status: int,
        headers: MutableHeaders,
        data: Any,
    ) -> tuple[int, MutableHeaders, bytes]:
        if 200 <= status < 300 and (negotiation.compact or negotiation.fields):
            try:
                data = _shape(scope, negotiation, data, headers)
            except ApiError as exc:
                return _error_parts(exc)
        return status, headers, orjson.dumps(data, option=orjson.OPT_UTC_Z)

    def _coding_for(self, negotiation: Negotiation, status: int, body: bytes) -> str | None:
        # dcz for the small answers too (they are what it is for), successful ones only (the
        # dictionary knows those); otherwise the plain coding, above the size threshold.
        if negotiation.coding == DCZ and 200 <= status < 300 and len(body) >= DCZ_MIN_BYTES:
            return DCZ
        coding = negotiation.plain_coding if negotiation.coding == DCZ else negotiation.coding
        return coding if len(body) >= self.min_compress_bytes else None

    def _compress(
        self,
        headers: MutableHeaders,
        negotiation: Negotiation,
        coding: str | None,
        body: bytes,
    ) -> bytes:
        dictionary = negotiation.dictionary
        if coding == DCZ and dictionary is not None:
            body = dictionary.compress(body, self.compressors.zstd_level)
        elif coding is not None:
            body = self.compressors.compressor(coding)(body)
        if coding is not None:
            headers["content-encoding"] = coding
        if dictionary is not None and coding != DCZ:  # the client lacks it: where to get it
            existing = headers.get("link")
            headers["link"] = f"{existing}, {dictionary.link}" if existing else dictionary.link
        headers["content-length"] = str(len(body))
        return body

    async def _finish(
        self,
        scope: Scope,
        negotiation: Negotiation,
        status: int,
        headers: MutableHeaders,
        body: bytes,
        send: Send,
    ) -> None:
        method = scope["method"]
        coding = self._coding_for(negotiation, status, body)
        if method in ("GET", "HEAD") and status == 200:
            etag = strong_etag(body, _coding_tag(negotiation, coding))
            headers.setdefault("cache-control", DEFAULT_CACHE_CONTROL)
            if etag_matches(negotiation.if_none_match, etag):
                await _send_not_modified(send, headers, etag, negotiation)
                return
            headers["etag"] = etag
        _append_vary(headers, negotiation)
        body = self._compress(headers, negotiation, coding, body)
        await _send(send, status, headers.raw, body, method)


class RepresentationMiddleware:
    """Fields, compact encoding, ETag/304, Cache-Control and compression for the JSON answers
    of routes under `prefix`. A route that answers with `Represented` has its data shaped as
    it is; the JSON body of any other route is decoded once to be shaped."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        prefix: str,
        min_compress_bytes: int,
        compressors: Compressors | None = None,
        dictionaries: CompressionDictionaries | None = None,
    ) -> None:
        self.app = app
        self.prefix = prefix
        self.representer = Representer(
            min_compress_bytes=min_compress_bytes,
            compressors=compressors,
            dictionaries=dictionaries,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        try:
            scope[_NEGOTIATION] = Negotiation.from_scope(scope, self.representer.dictionaries)
        except ApiError as exc:
            await error_response(exc)(scope, receive, send)
            return
        scope[_REPRESENTER] = self.representer
        start: Message | None = None
        chunks: list[bytes] = []
        passthrough = False

        async def buffered_send(message: Message) -> None:
            nonlocal start, passthrough
            if message["type"] == "http.response.start":
                headers = Headers(raw=message["headers"])
                media_type = headers.get("content-type", "").split(";")[0].strip()
                passthrough = (
                    scope.get(_REPRESENTED, False)
                    or media_type not in _JSON_TYPES
                    or "content-encoding" in headers
                )
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
                await self.representer.send_body(scope, send, start, b"".join(chunks))

        await self.app(scope, receive, buffered_send)


class Represented(Response):
    """A route's answer as data, shaped for the phone by the representer without a JSON round
    trip; `validator` as `Representer.send_data` takes it. `read`: a POST that only reads
    (a sync pull, whose cursor travels in the body) takes field selection like a GET."""

    def __init__(
        self,
        data: Any,
        status_code: int = 200,
        headers: dict[str, str] | None = None,
        validator: str | None = None,
        *,
        read: bool = False,
    ) -> None:
        super().__init__(status_code=status_code, headers=headers)
        self.data = data
        self.validator = validator
        self.read = read

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        representer = scope.get(_REPRESENTER)
        kept = [(k, v) for k, v in self.raw_headers if k != b"content-length"]
        if not isinstance(representer, Representer):  # outside the middleware, or as JSON
            body = orjson.dumps(self.data, option=orjson.OPT_UTC_Z)
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in kept}
            plain = Response(body, self.status_code, headers, "application/json")
            await plain(scope, receive, send)
            return
        scope[_REPRESENTED] = True
        scope[_READ_BY_POST] = self.read
        await representer.send_data(
            scope,
            send,
            self.data,
            status=self.status_code,
            headers=MutableHeaders(raw=kept),
            validator=self.validator,
        )


def plain_json_answers(scope: Scope) -> None:
    """Make this request's `Represented` answer a plain JSON body, which the middleware then
    shapes like any other route's: for a layer between the two that keeps the route's own
    answer (idempotency), not one already encoded for this request."""
    scope.pop(_REPRESENTER, None)


def negotiation_of(scope: Scope) -> Negotiation:
    """What this request asked of the representation (read once per request)."""
    negotiation = scope.get(_NEGOTIATION)
    if not isinstance(negotiation, Negotiation):
        negotiation = scope[_NEGOTIATION] = Negotiation.from_scope(scope)
    return negotiation


def compact_schema_of(scope: Scope) -> CompactSchema:
    """The key maps of the app serving `scope`, built on first use."""
    app = scope["app"]
    schema = getattr(app.state, "compact_schema", None)
    if not isinstance(schema, CompactSchema):
        schema = CompactSchema.from_routes(app.routes, "/api/")
        app.state.compact_schema = schema
    return schema


def _shape(scope: Scope, negotiation: Negotiation, data: Any, headers: MutableHeaders) -> Any:
    schema = compact_schema_of(scope)
    route = scope.get("route")
    spec = schema.spec_of(getattr(route, "response_model", None))
    if negotiation.fields and (scope["method"] in ("GET", "HEAD") or scope.get(_READ_BY_POST)):
        data = _select_fields(data, spec, schema, negotiation.fields)
    if negotiation.compact and spec is not None:
        try:
            encoded = encode(data, spec, schema.resources)
        except CompactError:
            return data  # an answer the key map does not describe stays JSON
        headers["content-type"] = COMPACT_MEDIA_TYPE
        resource = spec.get("ref") or spec.get("of", {}).get("ref") or spec["t"]
        headers[KEYS_HEADER] = f"{resource};v={schema.version}"
        return encoded
    return data


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


def _with_coding(etag: str, coding: str | None) -> str:
    return f'{etag[:-1]}-{coding}"' if coding else etag


def _coding_tag(negotiation: Negotiation, coding: str | None) -> str | None:
    """How an ETag names the coding: a dcz answer's bytes depend on the dictionary too."""
    if coding == DCZ and negotiation.dictionary is not None:
        return f"{DCZ}.{negotiation.dictionary.id}"
    return coding


async def _send(send: Send, status: int, raw_headers: list[Any], body: bytes, method: str) -> None:
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body if method != "HEAD" else b""})


async def _send_not_modified(
    send: Send, headers: MutableHeaders, etag: str, negotiation: Negotiation
) -> None:
    kept = MutableHeaders()
    for name in ("cache-control", "vary", "x-request-id", KEYS_HEADER.lower()):
        if name in headers:
            kept[name] = headers[name]
    kept["etag"] = etag
    _append_vary(kept, negotiation)
    await send({"type": "http.response.start", "status": 304, "headers": kept.raw})
    await send({"type": "http.response.body", "body": b""})


def _append_vary(headers: MutableHeaders, negotiation: Negotiation) -> None:
    existing = headers.get("vary")
    vary = negotiation.vary
    headers["vary"] = f"{existing}, {vary}" if existing else vary


def _error_parts(exc: ApiError) -> tuple[int, MutableHeaders, bytes]:
    response = error_response(exc)
    body = bytes(response.body)
    return response.status_code, MutableHeaders(raw=list(response.raw_headers)), body
