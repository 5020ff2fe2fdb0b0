"""The one app factory every service and the BFF build on."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.telemetry import TelemetryConfig
from starlette.responses import Response

from services.kit import openapi_document, tracing
from services.kit.change_feed import FeedTables
from services.kit.dependencies import service_principal
from services.kit.error_responses import error_response, install_error_handlers
from services.kit.feed_endpoint import build_changes_router, pruning_tombstones
from services.kit.health import build_health_router, default_checks
from services.kit.http_client import DownstreamUnavailable
from services.kit.middleware import (
    BodySizeLimitMiddleware,
    ExtraLabels,
    LogFields,
    RequestContextMiddleware,
)
from services.kit.migrations import upgrade_to_head
from services.kit.request_context import ORIGIN_DEVICE_HEADER
from services.kit.runtime import ServiceRuntime
from services.kit.settings import ServiceSettings
from services.kit.structured_logging import configure_logging, get_logger
from services.kit.version_watch import build_version_watch_router

StartupHook = Callable[[ServiceRuntime, AsyncExitStack], Awaitable[None]]
# Builds the deployable's typed context (what its routes reach through one dependency).
ContextFactory = Callable[[ServiceRuntime], object]

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

_log = get_logger(__name__)
SERVICE_TOKEN: openapi_document.Credentials = {
    service_principal: (
        "serviceToken",
        {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "a short-lived token another Tern service mints for this one",
        },
    )
}


def create_service_app(
    settings: ServiceSettings,
    *,
    title: str,
    migrations_dir: Path | None,
    downstreams: dict[str, str] | None = None,
    startup: StartupHook | None = None,
    ready_checks_downstreams: bool = False,
    metric_labels: tuple[str, ...] = (),
    extra_labels: ExtraLabels | None = None,
    log_fields: LogFields | None = None,
    body_limit_overrides: dict[str, int] | None = None,
    context: ContextFactory | None = None,
    credentials: openapi_document.Credentials | None = None,
    error_statuses: frozenset[int] = frozenset({503}),
    origin_device_header: str = ORIGIN_DEVICE_HEADER,
    change_feed: FeedTables | None = None,
) -> FastAPI:
    """A FastAPI app with the kit's middleware, errors, health, metrics and lifespan.

    `context(runtime)` builds the app's typed context once, without I/O; routes reach it
    through the dependency `context_dependency` makes, the startup hook as `app.state.context`.
    `credentials` and `error_statuses` go into its OpenAPI document (`openapi_document`):
    by default a service token on the internal routes, and 503 for a downstream that fails.
    `change_feed`: the service keeps the kit's change feed; it is served at
    /internal/v1/feed and its old tombstones are pruned.
    """
    runtime = ServiceRuntime.build(settings, downstreams or {}, metric_labels)
    default_checks(runtime, include_downstreams=ready_checks_downstreams)
    tracer_provider = tracing.build_tracer_provider(settings)
    if tracer_provider is not None:
        tracer = tracer_provider.get_tracer(tracing.INSTRUMENTATION)
        for client in runtime.clients.values():
            client.trace_with(tracer)
        runtime.db.trace_with(tracer)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.service_name, settings.log_level, settings.log_json)
        settings.service_dir.mkdir(parents=True, exist_ok=True)
        if migrations_dir is not None:
            await upgrade_to_head(runtime.db, migrations_dir)
        async with AsyncExitStack() as stack:
            if tracer_provider is not None and settings.otlp_endpoint:
                # Entered first, left last: the spans of the shutdown's own calls go out too.
                await stack.enter_async_context(
                    tracing.exporting(tracer_provider, settings.otlp_endpoint)
                )
            stack.push_async_callback(runtime.aclose)
            if change_feed is not None:
                await stack.enter_async_context(pruning_tombstones(runtime, change_feed))
            if startup is not None:
                await startup(runtime, stack)
            _log.info("service_started", port=settings.port, environment=settings.environment)
            yield
            _log.info("service_stopping")

    app = FastAPI(
        telemetry=_telemetry(tracer_provider),
        title=title,
        lifespan=lifespan,
        # The documents are in proto/ for whoever builds a client; production serves none.
        docs_url="/docs" if settings.environment != "production" else None,
        openapi_url="/openapi.json" if settings.environment != "production" else None,
        redoc_url=None,
    )
    app.state.runtime = runtime
    app.state.context = context(runtime) if context is not None else runtime
    install_error_handlers(app)
    openapi_document.install(
        app, SERVICE_TOKEN if credentials is None else credentials, error_statuses
    )

    async def _downstream_unavailable(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DownstreamUnavailable)
        return error_response(exc.to_api_error())

    app.add_exception_handler(DownstreamUnavailable, _downstream_unavailable)
    app.include_router(build_health_router())
    app.include_router(build_version_watch_router())
    if change_feed is not None:
        app.include_router(build_changes_router(change_feed))
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_bytes=settings.max_request_body_bytes,
        overrides=body_limit_overrides,
    )
    app.add_middleware(
        RequestContextMiddleware,
        metrics=runtime.metrics,
        extra_labels=extra_labels,
        log_fields=log_fields,
        origin_device_header=origin_device_header,
        traced=tracer_provider is not None,
    )
    return app


_UNTRACED_PATHS = frozenset({"/health", "/ready", "/metrics"})


def _telemetry(tracer_provider: TracerProvider | None) -> TelemetryConfig:
    """FastAPI's native OpenTelemetry: server spans with this process's provider when traces
    are exported, else nothing at all (disabled, it costs a request one check of the flags).

    Metrics and logs stay the kit's (Prometheus, structlog). No operation spans: each would
    add a span to every dependency, endpoint and serialization of every request, for timings
    the server span and the access log already bound."""
    if tracer_provider is None:
        return {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}
    return {
        "tracer_provider": tracer_provider,
        "tracing": True,
        "metrics": False,
        "logs": False,
        "operation_spans": False,
        "auto_configure": False,
        # Probes and scrapes every few seconds are no trace anyone reads.
        "exclude": lambda scope: scope.get("path") in _UNTRACED_PATHS,
    }
