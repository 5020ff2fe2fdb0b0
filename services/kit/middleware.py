"""Pure ASGI middleware every app runs: request identity, access log, metrics, body limit."""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.kit import change_versions, request_context, tracing
from services.kit.error_responses import error_response
from services.kit.errors import ApiError
from services.kit.metrics import HttpMetrics
from services.kit.structured_logging import get_logger

_access_log = get_logger("tern.access")

# Labels read from a request for metrics beyond method/route/status (the BFF adds platform etc).
ExtraLabels = Callable[[Scope], tuple[str, ...]]
# Fields added to each access log line from the request (the BFF adds the mobile headers).
LogFields = Callable[[Scope], dict[str, str]]

_QUIET_ROUTES = frozenset({"/health", "/metrics"})


def route_template(scope: Scope) -> str:
    """The matched route's template (never the raw path, which would explode label counts)."""
    # FastAPI >= 0.16x keeps included routers nested: scope["route"] then lacks the routers'
    # prefixes, and only the effective route context carries the full template.
    fastapi_scope = scope.get("fastapi")
    if isinstance(fastapi_scope, dict):
        effective = getattr(fastapi_scope.get("effective_route_context"), "path_format", None)
        if isinstance(effective, str) and effective:
            return effective
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    return "unmatched"


class RequestContextMiddleware:
    """Request id (kept or minted, echoed back), trace context, access log line and metrics."""

    def __init__(
        self,
        app: ASGIApp,
        metrics: HttpMetrics,
        extra_labels: ExtraLabels | None = None,
        log_fields: LogFields | None = None,
        origin_device_header: str = request_context.ORIGIN_DEVICE_HEADER,
        traced: bool = False,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.extra_labels = extra_labels
        self.log_fields = log_fields
        # Where the device a request comes from is named: the BFF's phones say X-Device-ID.
        self.origin_device_header = origin_device_header
        # Traces are exported (kit tracing): FastAPI's server span, which runs outside this
        # middleware, is current here, and its ids are the ones logged and sent onward.
        self.traced = traced

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = request_context.request_headers(scope)
        request_id = request_context.accept_request_id(headers.get("x-request-id"))
        if self.traced:
            trace = tracing.current_trace(headers.get("traceparent"))
        else:
            trace = request_context.parse_traceparent(headers.get("traceparent"))
        request_context.bind(request_id, trace, headers.get(self.origin_device_header))
        change_versions.start_request()
        started = time.perf_counter()
        status = 500
        size = 0

        async def send_wrapper(message: Message) -> None:
            nonlocal status, size
            if message["type"] == "http.response.start":
                await change_versions.published()  # before the caller can ask another replica
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers["x-request-id"] = request_id
                version = change_versions.answered()
                if version is not None:
                    headers[change_versions.VERSION_HEADER] = str(version)
            elif message["type"] == "http.response.body":
                size += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            route = route_template(scope)
            extra = self.extra_labels(scope) if self.extra_labels else ()
            self.metrics.observe(scope["method"], route, status, elapsed, size, extra)
            if route not in _QUIET_ROUTES:
                fields = self.log_fields(scope) if self.log_fields else {}
                _access_log.info(
                    "request",
                    method=scope["method"],
                    route=route,
                    path=scope["path"],
                    status=status,
                    duration_ms=round(elapsed * 1000, 2),
                    response_bytes=size,
                    http_version=scope.get("http_version"),
                    **trace.log_fields(),
                    **fields,
                )


class BodySizeLimitMiddleware:
    """Refuses bodies over a limit with 413, by Content-Length or while streaming."""

    def __init__(
        self, app: ASGIApp, max_bytes: int, overrides: dict[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # Path prefixes that accept larger (or smaller) bodies, e.g. upload chunks.
        self.overrides = overrides or {}

    def _limit_for(self, path: str) -> int:
        for prefix, limit in self.overrides.items():
            if path.startswith(prefix):
                return limit
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = request_context.request_headers(scope)
        if scope["method"] in ("GET", "HEAD") and "content-length" not in headers:
            await self.app(scope, receive, send)  # no body to count: routes never read one
            return
        limit = self._limit_for(scope["path"])
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await error_response(_too_large(limit))(scope, receive, send)
            return
        streaming = _StreamingLimit(limit, scope, receive, send)
        try:
            await self.app(scope, streaming.limited_receive, streaming.guarded_send)
        except Exception:
            # An app that reads on past the disconnect (request.stream() raises) failed only
            # because its body was refused; the 413 has answered for it.
            if not streaming.answered:
                raise


# Over HTTP/1.1 a server that closes a connection with request bytes still unread resets it,
# and the client loses the answer with it; so the rest of a refused body is read (up to this
# much) and dropped before the 413 goes out. HTTP/2 ends the one stream and answers at once.
_DRAIN_MAX_BYTES = 4 * 1024 * 1024


class _StreamingLimit:
    """Counts a body without a (truthful) Content-Length and answers 413 once it is too long.

    The 413 is sent from inside `receive`, when the limit is crossed: an error raised there
    would reach the app, and FastAPI turns any error while reading a body into a 400. From
    then on the app reads a disconnect, and what it still sends is dropped."""

    def __init__(self, limit: int, scope: Scope, receive: Receive, send: Send) -> None:
        self.limit = limit
        self.scope = scope
        self.receive = receive
        self.send = send
        self.received = 0
        self.response_started = False
        self.refused = False
        self.answered = False

    async def limited_receive(self) -> Message:
        if self.refused:
            return {"type": "http.disconnect"}
        message = await self.receive()
        if message["type"] != "http.request":
            return message
        self.received += len(message.get("body", b""))
        if self.received <= self.limit:
            return message
        self.refused = True
        if not self.response_started:  # else the app's answer has begun and goes on as it can
            self.answered = True
            error = _too_large(self.limit)
            if message.get("more_body", False) and not await self._drain_keeps_connection():
                error.headers["connection"] = "close"
            await error_response(error)(self.scope, _disconnected, self.send)
        return {"type": "http.disconnect"}

    async def guarded_send(self, message: Message) -> None:
        if self.answered:
            return  # the 413 is the answer
        if message["type"] == "http.response.start":
            self.response_started = True
        await self.send(message)

    async def _drain_keeps_connection(self) -> bool:
        """Drop the rest of an HTTP/1 body (up to a bound); whether the connection lives on."""
        if not str(self.scope.get("http_version", "1.1")).startswith("1"):
            return True
        dropped = 0
        while dropped <= _DRAIN_MAX_BYTES:
            message = await self.receive()
            if message["type"] != "http.request":
                return False
            dropped += len(message.get("body", b""))
            if not message.get("more_body", False):
                return True
        return False


async def _disconnected() -> Message:
    return {"type": "http.disconnect"}


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        "PAYLOAD_TOO_LARGE",
        f"request body is larger than {limit} bytes",
        details={"max_bytes": limit},
    )
