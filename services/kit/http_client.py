"""The one way a service calls another: pooled httpx, timeouts, retries, breaker, auth, tracing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
from pydantic import BaseModel
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from services.kit.circuit_breaker import CircuitBreaker
from services.kit.errors import ApiError, service_unavailable
from services.kit.request_context import outbound_headers
from services.kit.service_auth import ServiceTokenIssuer
from services.kit.structured_logging import get_logger

_log = get_logger(__name__)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class DownstreamUnavailable(Exception):
    """The downstream could not answer (connection, timeout, 5xx, or breaker open)."""

    def __init__(self, service: str, reason: str, retry_after_s: float = 5.0) -> None:
        super().__init__(f"{service}: {reason}")
        self.service = service
        self.reason = reason
        self.retry_after_s = retry_after_s

    def to_api_error(self) -> ApiError:
        return service_unavailable(self.service, self.reason, self.retry_after_s)


class DownstreamError(ApiError):
    """A 4xx from a downstream, passed on to our caller with its own error body."""

    def __init__(self, service: str, response: httpx.Response) -> None:
        error: dict[str, Any] = {}
        try:
            parsed = orjson.loads(response.content)
            if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
                error = parsed["error"]
        except orjson.JSONDecodeError:
            pass
        retry = error.get("retry") or {}
        super().__init__(
            response.status_code,
            str(error.get("code") or "DOWNSTREAM_ERROR"),
            str(error.get("message") or f"{service} answered {response.status_code}"),
            user_message=error.get("user_message"),
            retry_allowed=retry.get("allowed"),
            retry_after_s=retry.get("after_seconds"),
            details=error.get("details"),
        )
        if error.get("action"):
            self.action = error["action"]
        self.service = service


class _RetryableStatus(Exception):
    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"status {response.status_code}")
        self.response = response


def build_transport_client(
    *,
    connect_timeout_s: float = 2.0,
    timeout_s: float = 10.0,
    http2: bool = False,
    max_connections: int = 100,
) -> httpx.AsyncClient:
    """A pooled AsyncClient with explicit timeouts; one per downstream, kept for the process."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout_s, connect=connect_timeout_s),
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=20),
        http1=not http2,
        http2=http2,
    )


class ServiceClient:
    """Calls one downstream service. Callers use typed wrappers built on top of this."""

    def __init__(
        self,
        service: str,
        base_url: str,
        tokens: ServiceTokenIssuer,
        *,
        connect_timeout_s: float = 2.0,
        timeout_s: float = 10.0,
        retries: int = 2,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.service = service
        self.base_url = base_url.rstrip("/")
        self._tokens = tokens
        self._retries = retries
        self.breaker = breaker or CircuitBreaker()
        self._http = build_transport_client(
            connect_timeout_s=connect_timeout_s, timeout_s=timeout_s
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    def _headers(self, user_id: str | None, extra: Mapping[str, str] | None) -> dict[str, str]:
        headers = outbound_headers()
        headers["authorization"] = f"Bearer {self._tokens.mint(self.service, user_id)}"
        if extra:
            headers.update(extra)
        return headers

    async def request(
        self,
        method: str,
        path: str,
        *,
        user_id: str | None = None,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        content: bytes | None = None,
        files: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        timeout_s: float | None = None,
    ) -> httpx.Response:
        """Send one request; retried only when idempotent. 4xx -> DownstreamError."""
        method = method.upper()
        retry = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        attempts = self._retries + 1 if retry else 1
        body = orjson.dumps(_jsonable(json)) if json is not None else content
        base_headers = {"content-type": "application/json"} if json is not None else {}
        url = f"{self.base_url}{path}"
        timeout = httpx.USE_CLIENT_DEFAULT if timeout_s is None else httpx.Timeout(timeout_s)

        async def send_once() -> httpx.Response:
            if not self.breaker.allow():
                raise DownstreamUnavailable(
                    self.service, "circuit open", max(1.0, self.breaker.retry_after_s())
                )
            try:
                response = await self._http.request(
                    method,
                    url,
                    content=body,
                    params=params,
                    files=files,
                    data=data,
                    headers={**base_headers, **self._headers(user_id, headers)},
                    timeout=timeout,
                )
            except httpx.TransportError as exc:
                self.breaker.record_failure()
                raise DownstreamUnavailable(self.service, type(exc).__name__) from exc
            if response.status_code >= 500:
                self.breaker.record_failure()
                raise _RetryableStatus(response)
            self.breaker.record_success()
            return response

        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(attempts),
                wait=wait_exponential_jitter(multiplier=0.05, max=1.0),
                retry=retry_if_exception_type((DownstreamUnavailable, _RetryableStatus)),
                reraise=True,
            ):
                with attempt:
                    response = await send_once()
        except _RetryableStatus as exc:
            _log.warning("downstream_5xx", service=self.service, status=exc.response.status_code)
            raise DownstreamUnavailable(
                self.service, f"answered {exc.response.status_code}"
            ) from exc
        if response.status_code >= 400:
            raise DownstreamError(self.service, response)
        return response

    async def get_json(self, path: str, **kwargs: Any) -> Any:
        return (await self.request("GET", path, **kwargs)).json()

    async def post_json(self, path: str, **kwargs: Any) -> Any:
        response = await self.request("POST", path, **kwargs)
        return response.json() if response.content else None

    @asynccontextmanager
    async def stream(
        self, method: str, path: str, *, user_id: str | None = None, **kwargs: Any
    ) -> AsyncIterator[httpx.Response]:
        """Stream a response body (large files, SSE); not retried."""
        if not self.breaker.allow():
            raise DownstreamUnavailable(self.service, "circuit open", self.breaker.retry_after_s())
        try:
            async with self._http.stream(
                method.upper(),
                f"{self.base_url}{path}",
                headers=self._headers(user_id, kwargs.pop("headers", None)),
                **kwargs,
            ) as response:
                if response.status_code >= 500:
                    self.breaker.record_failure()
                    raise DownstreamUnavailable(self.service, f"answered {response.status_code}")
                self.breaker.record_success()
                if response.status_code >= 400:
                    await response.aread()
                    raise DownstreamError(self.service, response)
                yield response
        except httpx.TransportError as exc:
            self.breaker.record_failure()
            raise DownstreamUnavailable(self.service, type(exc).__name__) from exc


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return value
