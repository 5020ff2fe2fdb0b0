"""/health (the process is alive), /ready (its dependencies answer) and /metrics."""

from __future__ import annotations

import asyncio
import hmac

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from services.kit.errors import Action, ApiError
from services.kit.routing import FixedPathsRouter
from services.kit.runtime import ServiceRuntime

_CHECK_TIMEOUT_S = 2.0


def _runtime(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


def build_health_router() -> APIRouter:
    router = FixedPathsRouter(tags=["operations"], include_in_schema=False)

    @router.get("/health")
    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "service": _runtime(request).settings.service_name})

    @router.get("/ready")
    async def ready(request: Request) -> JSONResponse:
        runtime = _runtime(request)
        results = await run_checks(runtime)
        failed = sorted(name for name, outcome in results.items() if outcome != "ok")
        if failed:
            raise ApiError(
                503,
                "NOT_READY",
                "not ready: " + ", ".join(f"{name} ({results[name]})" for name in failed),
                action=Action.RETRY,
                retry_after_s=5,
                details={"checks": results, "failed": failed},
            )
        return JSONResponse({"status": "ready", "checks": results})

    @router.get("/metrics")
    async def metrics(request: Request) -> Response:
        runtime = _runtime(request)
        token = runtime.settings.metrics_token
        if token is not None:
            given = request.headers.get("authorization", "")
            expected = f"Bearer {token.get_secret_value()}"
            if not hmac.compare_digest(given.encode(), expected.encode()):
                raise ApiError(401, "METRICS_TOKEN_REQUIRED", "metrics need a bearer token")
        body, content_type = runtime.metrics.render()
        return Response(body, media_type=content_type)

    return router


async def run_checks(runtime: ServiceRuntime) -> dict[str, str]:
    """Each readiness check's outcome: "ok" or a short reason."""

    async def outcome(check: object) -> str:
        try:
            await asyncio.wait_for(check(), _CHECK_TIMEOUT_S)  # type: ignore[operator]
        except TimeoutError:
            return "timeout"
        except Exception as exc:
            return type(exc).__name__
        return "ok"

    names = list(runtime.checks)
    outcomes = await asyncio.gather(*(outcome(runtime.checks[n]) for n in names))
    return dict(zip(names, outcomes, strict=True))


def default_checks(runtime: ServiceRuntime, include_downstreams: bool) -> None:
    """Database always; Redis when configured; downstream /health when asked (the BFF)."""
    runtime.checks["database"] = runtime.db.ping
    if runtime.settings.redis_url:
        runtime.checks["redis"] = runtime.cache.ping
    if include_downstreams:
        for name, client in runtime.clients.items():
            runtime.checks[name] = client.ping
