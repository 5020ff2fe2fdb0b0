"""Per-request identity (request id, W3C trace context) kept in contextvars and carried onward."""

from __future__ import annotations

import re
import secrets
import uuid
from contextvars import ContextVar
from dataclasses import dataclass

import structlog
from starlette.types import Scope

REQUEST_ID_HEADER = "x-request-id"
TRACEPARENT_HEADER = "traceparent"
# The phone whose request this is (its X-Device-ID, as the BFF read it): recorded with the
# changes it makes so that the user's other devices are the ones poked.
ORIGIN_DEVICE_HEADER = "x-tern-origin-device"

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_TRACEPARENT_RE = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


@dataclass(frozen=True, slots=True)
class TraceContext:
    """This request's span in its trace (W3C trace context), and the caller's span, if any."""

    trace_id: str
    parent_span_id: str | None
    span_id: str
    flags: str = "01"

    def traceparent(self) -> str:
        """The traceparent of an outbound call: this span is the callee's parent."""
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"

    def log_fields(self) -> dict[str, str | None]:
        """The ids that let a log reader rebuild the tree of spans."""
        return {
            "trace_id": self.trace_id,
            "span_id": self.span_id,
            "parent_span_id": self.parent_span_id,
        }


_HEADERS_KEY = "tern.headers"


def request_headers(scope: Scope) -> dict[str, str]:
    """The request's headers by (lower-case) name, the first of repeated ones: read once per
    request and shared by every layer, instead of a scan of the raw list per lookup."""
    headers: dict[str, str] | None = scope.get(_HEADERS_KEY)
    if headers is None:
        headers = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in reversed(scope["headers"])
        }
        scope[_HEADERS_KEY] = headers
    return headers


_request_id: ContextVar[str | None] = ContextVar("tern_request_id", default=None)
_trace: ContextVar[TraceContext | None] = ContextVar("tern_trace", default=None)
_origin_device: ContextVar[str | None] = ContextVar("tern_origin_device", default=None)


def accept_request_id(value: str | None) -> str:
    """Keep a client's request id if it is sane, otherwise mint one."""
    if value and _REQUEST_ID_RE.match(value):
        return value
    return uuid.uuid4().hex


def parse_traceparent(value: str | None) -> TraceContext:
    """Continue the caller's trace when the header is valid, else start a new one."""
    span_id = secrets.token_hex(8)
    if value:
        match = _TRACEPARENT_RE.match(value.strip().lower())
        if match and match.group(1) != "0" * 32 and match.group(2) != "0" * 16:
            return TraceContext(match.group(1), match.group(2), span_id, match.group(3))
    return TraceContext(secrets.token_hex(16), None, span_id)


def bind(request_id: str, trace: TraceContext, origin_device: str | None = None) -> None:
    """Make the ids current for this task and every log line it writes."""
    _request_id.set(request_id)
    _trace.set(trace)
    _origin_device.set(accept_origin_device(origin_device))
    structlog.contextvars.bind_contextvars(
        request_id=request_id, trace_id=trace.trace_id, span_id=trace.span_id
    )


def current_request_id() -> str | None:
    """The request id of the request being served, if any."""
    return _request_id.get()


def accept_origin_device(value: str | None) -> str | None:
    """A device id, if sane (the same shape as a request id), else none."""
    return value if value and _REQUEST_ID_RE.match(value) else None


def bind_origin_device(device_id: str | None) -> None:
    """The device this request comes from (the BFF, from the phone's X-Device-ID)."""
    _origin_device.set(accept_origin_device(device_id))


def current_origin_device() -> str | None:
    """The device whose request is being served, if a phone's."""
    return _origin_device.get()


def current_trace() -> TraceContext | None:
    """The trace context of the request being served, if any."""
    return _trace.get()


def outbound_headers() -> dict[str, str]:
    """Headers that carry the current request's identity to the next hop."""
    # Outside a request (a background job) each call starts a trace of its own.
    trace = _trace.get() or parse_traceparent(None)
    headers = {TRACEPARENT_HEADER: trace.traceparent()}
    request_id = _request_id.get()
    if request_id:
        headers[REQUEST_ID_HEADER] = request_id
    origin_device = _origin_device.get()
    if origin_device:
        headers[ORIGIN_DEVICE_HEADER] = origin_device
    return headers
