"""OpenTelemetry traces, exported by OTLP/HTTP when `TERN_<SERVICE>_OTLP_ENDPOINT` is set.

Unset (the default) nothing here runs per request: no provider exists, FastAPI's own telemetry
stays disabled, and the kit's middleware, client and database take their untraced paths.
Set, FastAPI makes each request's server span (its native telemetry, given this process's
provider: it continues an incoming `traceparent`), the kit's client adds a CLIENT span per
attempt of each call to another service (its `traceparent` names that span, so the callee's
server span is its child), the database a span per session or transaction within a traced
request (not per statement), and the request context takes its ids from the server span:
the trace id in every log line is the exported one. The SDK is imported only then.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, StatusCode, Tracer

from services.kit.request_context import TraceContext, parse_traceparent
from services.kit.settings import ServiceSettings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

INSTRUMENTATION = "tern"
TRACES_PATH = "/v1/traces"


def build_tracer_provider(settings: ServiceSettings) -> TracerProvider | None:
    """This process's provider, or None when no OTLP endpoint is configured (no tracing).

    Without I/O or threads: the exporting pipeline starts in the lifespan (`exporting`)."""
    if not settings.otlp_endpoint:
        return None
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    resource = Resource.create(
        {
            "service.name": settings.service_name,
            "service.namespace": "tern",
            "deployment.environment.name": settings.environment,
        }
    )
    # Parent-based: a caller's decision (its traceparent's sampled flag) holds down the whole
    # tree; only a trace that starts here is sampled at the ratio.
    sampler = ParentBased(TraceIdRatioBased(settings.trace_sample_ratio))
    return TracerProvider(resource=resource, sampler=sampler, shutdown_on_exit=False)


def traces_url(endpoint: str) -> str:
    """Where spans are posted: the OTLP/HTTP receiver's base URL plus /v1/traces."""
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith(TRACES_PATH) else endpoint + TRACES_PATH


@asynccontextmanager
async def exporting(provider: TracerProvider, endpoint: str) -> AsyncIterator[None]:
    """Batch the provider's spans to the OTLP endpoint (a thread of the SDK's, off the event
    loop) while the app runs; flush what is left and stop on the way out."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=traces_url(endpoint))))
    try:
        yield
    finally:
        # Blocks while the last batch is posted: never on the event loop.
        await asyncio.to_thread(provider.shutdown)


def current_trace(incoming_traceparent: str | None) -> TraceContext:
    """The request context's ids, taken from the current (server) span.

    The parent is the caller's span from the incoming header when it is of this trace
    (an unsampled span keeps no parent of its own). Outside any span, as without tracing."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return parse_traceparent(incoming_traceparent)
    trace_id = format(context.trace_id, "032x")
    parent_span_id = None
    if incoming_traceparent:
        incoming = parse_traceparent(incoming_traceparent)
        if incoming.trace_id == trace_id:
            parent_span_id = incoming.parent_span_id
    return TraceContext(
        trace_id,
        parent_span_id,
        format(context.span_id, "016x"),
        format(context.trace_flags, "02x"),
    )


def traceparent(span: Span) -> str:
    """The W3C traceparent that makes `span` the parent of the callee's server span."""
    context = span.get_span_context()
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"


def peer_attributes(service: str, base_url: str) -> dict[str, str | int]:
    """What every client span to one downstream carries (computed once per client)."""
    url = urlsplit(base_url)
    attributes: dict[str, str | int] = {"peer.service": service}
    if url.hostname:
        attributes["server.address"] = url.hostname
    port = url.port or {"http": 80, "https": 443}.get(url.scheme)
    if port is not None:
        attributes["server.port"] = port
    return attributes


@contextmanager
def client_span(
    tracer: Tracer,
    method: str,
    url: str,
    peer: dict[str, str | int],
    resend_count: int = 0,
) -> Iterator[Span]:
    """A CLIENT span for one attempt of a call (a retry is a span of its own, its
    `http.request.resend_count` says which). The caller sets the status it got
    (`answered`); an exception ends the span as an error named by `error_type`."""
    attributes: dict[str, str | int] = {
        **peer,
        "http.request.method": method,
        "url.full": url,
    }
    if resend_count:
        attributes["http.request.resend_count"] = resend_count
    span = tracer.start_span(method, kind=SpanKind.CLIENT, attributes=attributes)
    try:
        yield span
    except BaseException as exc:
        span.set_attribute("error.type", error_type(exc))
        span.set_status(StatusCode.ERROR)
        raise
    finally:
        span.end()


def answered(span: Span, status: int) -> None:
    """Record a call's HTTP status on its client span (4xx and 5xx are errors of a client)."""
    span.set_attribute("http.response.status_code", status)
    if status >= 400:
        span.set_attribute("error.type", str(status))
        span.set_status(StatusCode.ERROR)


def error_type(exc: BaseException) -> str:
    """A short, stable name for a failure: the kit's reason when it has one."""
    reason = getattr(exc, "reason", None)
    if isinstance(reason, str):
        return reason
    status = getattr(exc, "status", None)
    if isinstance(status, int):
        return str(status)
    return type(exc).__qualname__
