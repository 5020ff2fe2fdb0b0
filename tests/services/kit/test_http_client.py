from __future__ import annotations

import asyncio

import pytest
from fastapi import FastAPI, Request

from services.kit.circuit_breaker import BreakerState, CircuitBreaker
from services.kit.error_responses import install_error_handlers
from services.kit.errors import ApiError
from services.kit.http_client import DownstreamError, DownstreamUnavailable, ServiceClient
from services.kit.request_context import bind, parse_traceparent
from services.kit.service_auth import ServiceTokenIssuer, ServiceTokenVerifier
from tests.support.servers import free_port, serve_app

SECRET = "k" * 32


def _downstream() -> tuple[FastAPI, dict[str, int], list[dict[str, str]]]:
    app = FastAPI()
    install_error_handlers(app)
    calls = {"flaky": 0}
    seen: list[dict[str, str]] = []
    verifier = ServiceTokenVerifier(SECRET, "datasets")

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/echo")
    async def echo(request: Request) -> dict[str, str | None]:
        principal = verifier.verify(request.headers.get("authorization"))
        seen.append(dict(request.headers))
        return {"user": principal.user_id}

    @app.get("/flaky")
    async def flaky() -> dict[str, int]:
        calls["flaky"] += 1
        if calls["flaky"] < 3:
            raise ApiError(503, "BUSY", "try later")
        return {"calls": calls["flaky"]}

    @app.post("/always-500")
    async def always_500() -> None:
        calls["post"] = calls.get("post", 0) + 1
        raise ApiError(500, "BROKEN", "broken")

    @app.get("/missing")
    async def missing() -> None:
        raise ApiError(404, "THING_NOT_FOUND", "thing 7 not found")

    return app, calls, seen


def _client(url: str, **kwargs: object) -> ServiceClient:
    return ServiceClient("datasets", url, ServiceTokenIssuer(SECRET, "bff"), **kwargs)  # type: ignore[arg-type]


async def test_carries_service_token_request_id_and_traceparent() -> None:
    app, _calls, seen = _downstream()
    async with serve_app(app) as url:
        client = _client(url)
        trace = parse_traceparent("00-" + "a" * 32 + "-" + "b" * 16 + "-01")
        bind("req-123", trace)
        assert await client.get_json("/echo", user_id="user-9") == {"user": "user-9"}
        await client.aclose()
    headers = seen[0]
    assert headers["x-request-id"] == "req-123"
    version, trace_id, parent_span_id, flags = headers["traceparent"].split("-")
    assert (version, trace_id, flags) == ("00", "a" * 32, "01")
    assert parent_span_id == trace.span_id  # the callee's parent is this hop's own span


async def test_idempotent_calls_are_retried_through_5xx() -> None:
    app, _calls, _seen = _downstream()
    async with serve_app(app) as url:
        client = _client(url, retries=2)
        assert await client.get_json("/flaky") == {"calls": 3}
        await client.aclose()


async def test_posts_are_not_retried_and_5xx_becomes_unavailable() -> None:
    app, calls, _seen = _downstream()
    async with serve_app(app) as url:
        client = _client(url, retries=3)
        with pytest.raises(DownstreamUnavailable) as err:
            await client.request("POST", "/always-500")
        await client.aclose()
    assert calls["post"] == 1
    assert err.value.to_api_error().details == {"service": "datasets"}


async def test_4xx_passes_through_with_its_error_body() -> None:
    app, _calls, _seen = _downstream()
    async with serve_app(app) as url:
        client = _client(url)
        with pytest.raises(DownstreamError) as err:
            await client.get_json("/missing")
        await client.aclose()
    assert (err.value.status, err.value.code) == (404, "THING_NOT_FOUND")
    assert err.value.message == "thing 7 not found"


async def test_breaker_opens_on_a_dead_service_and_fails_fast() -> None:
    client = _client(
        f"http://127.0.0.1:{free_port()}",
        retries=0,
        breaker=CircuitBreaker(failure_threshold=2, reset_timeout_s=30),
    )
    for _ in range(2):
        with pytest.raises(DownstreamUnavailable, match="ConnectError"):
            await client.get_json("/health")
    with pytest.raises(DownstreamUnavailable, match="circuit open") as err:
        await client.get_json("/health")
    assert err.value.retry_after_s >= 1  # the first opening is short: a trial within a second
    await client.aclose()


async def test_a_cancelled_trial_call_lets_the_next_one_through() -> None:
    app = FastAPI()
    release = asyncio.Event()

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/slow")
    async def slow() -> dict[str, str]:
        await release.wait()
        return {"status": "late"}

    clock = [0.0]
    breaker = CircuitBreaker(failure_threshold=1, reset_timeout_s=5, clock=lambda: clock[0])
    breaker.record_failure()  # open
    clock[0] = 5.0  # half-open: one trial may go
    async with serve_app(app) as url:
        client = _client(url, retries=0, breaker=breaker)
        with pytest.raises(TimeoutError):  # a dashboard section's own deadline
            await asyncio.wait_for(client.get_json("/slow"), 0.2)
        assert await client.get_json("/health") == {"status": "ok"}  # the next trial
        release.set()
        await client.aclose()
    assert breaker.state is BreakerState.CLOSED
