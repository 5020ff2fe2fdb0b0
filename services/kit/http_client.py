"""The one way a service calls another: pooled aiohttp, timeouts, retries, breaker, auth, tracing.

aiohttp, not httpx: in `tests/bench/results/http_client.md` a keep-alive GET costs httpx about
1.6 ms of client CPU (connection-pool scans, anyio per request) and aiohttp well under 0.1 ms.
Calls between services are HTTP/1.1 keep-alive on a pool per downstream; the service token,
request id and `traceparent` ride on every call; idempotent calls are retried through
connection errors and 5xx; a circuit breaker fails fast while a downstream keeps failing.
When traces are exported (`trace_with`), each attempt is a CLIENT span whose id the
`traceparent` carries.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from multidict import CIMultiDictProxy
from opentelemetry.trace import Span, Tracer
from pydantic import BaseModel
from pydantic_core import to_json
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from services.kit import tracing
from services.kit.change_versions import VERSION_HEADER
from services.kit.circuit_breaker import CircuitBreaker
from services.kit.errors import ApiError, service_unavailable
from services.kit.request_context import TRACEPARENT_HEADER, outbound_headers
from services.kit.service_auth import ServiceTokenIssuer
from services.kit.structured_logging import get_logger

_log = get_logger(__name__)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# Idle pooled connections are closed after this long: below the 30 s after which our servers
# close an idle keep-alive connection, so a call never goes out on one the server just closed.
_KEEPALIVE_S = 15.0
_JSON_HEADERS = {"content-type": "application/json"}
_UNTRACED: contextlib.nullcontext[None] = contextlib.nullcontext()

# A multipart part: (filename or None, content, content type).
FilePart = tuple[str | None, bytes | str, str]


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

    def __init__(self, service: str, status: int, content: bytes) -> None:
        error: dict[str, Any] = {}
        try:
            parsed = orjson.loads(content)
            if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
                error = parsed["error"]
        except orjson.JSONDecodeError:
            pass
        retry = error.get("retry") or {}
        super().__init__(
            status,
            str(error.get("code") or "DOWNSTREAM_ERROR"),
            str(error.get("message") or f"{service} answered {status}"),
            user_message=error.get("user_message"),
            retry_allowed=retry.get("allowed"),
            retry_after_s=retry.get("after_seconds"),
            details=error.get("details"),
        )
        if error.get("action"):
            self.action = error["action"]
        self.service = service


@dataclass(frozen=True, slots=True)
class ServiceResponse:
    """A downstream's whole answer: status, headers and body bytes."""

    status: int
    headers: CIMultiDictProxy[str]
    content: bytes

    def json(self) -> Any:
        return orjson.loads(self.content)


class StreamedResponse:
    """A downstream answer whose body is read as it arrives (files, event streams)."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status = response.status
        self.headers = response.headers

    def aiter_bytes(self) -> AsyncIterator[bytes]:
        """The body in chunks, as they arrive."""
        return self._response.content.iter_any()

    async def aread(self) -> bytes:
        """The rest of the body at once."""
        return await self._response.read()


class _RetryableStatus(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"status {status}")
        self.status = status


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
        max_connections: int = 100,
    ) -> None:
        self.service = service
        self.base_url = base_url.rstrip("/")
        self._tokens = tokens
        self._retries = retries
        self._connect_timeout_s = connect_timeout_s
        self._timeout = aiohttp.ClientTimeout(total=timeout_s, connect=connect_timeout_s)
        self._max_connections = max_connections
        self.breaker = breaker or CircuitBreaker()
        self._session: aiohttp.ClientSession | None = None
        # Told (user, version) of each answer to a call for a user: the user's change version
        # the answer carries, or None when it carries none (a read no version covers).
        self.on_version: Callable[[str, int | None], None] | None = None
        # Set only when traces are exported: then each attempt is a client span.
        self._tracer: Tracer | None = None
        self._peer: dict[str, str | int] = {}

    def trace_with(self, tracer: Tracer) -> None:
        """Make a CLIENT span of each attempt of each call (kit tracing is on)."""
        self._tracer = tracer
        self._peer = tracing.peer_attributes(self.service, self.base_url)

    def _http(self) -> aiohttp.ClientSession:
        # Made on first use: a session belongs to the event loop that runs it.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=self._max_connections, keepalive_timeout=_KEEPALIVE_S
                ),
                timeout=self._timeout,
                auto_decompress=False,  # bodies pass through as they were sent
                skip_auto_headers=("User-Agent",),
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _headers(self, user_id: str | None, extra: Mapping[str, str] | None) -> dict[str, str]:
        headers = outbound_headers()
        headers["authorization"] = f"Bearer {self._tokens.mint(self.service, user_id)}"
        if extra:
            headers.update(extra)
        return headers

    def _timeout_of(self, timeout_s: float | None) -> aiohttp.ClientTimeout | None:
        if timeout_s is None:
            return None
        return aiohttp.ClientTimeout(total=timeout_s, connect=self._connect_timeout_s)

    async def request(
        self,
        method: str,
        path: str,
        *,
        user_id: str | None = None,
        json: Any = None,
        params: Mapping[str, str | int] | None = None,
        content: bytes | None = None,
        files: Mapping[str, FilePart] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        timeout_s: float | None = None,
    ) -> ServiceResponse:
        """Send one request; retried only when idempotent. 4xx -> DownstreamError."""
        method = method.upper()
        retry = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        if json is not None:
            body: Any = to_json(json) if isinstance(json, BaseModel) else orjson.dumps(json)
            headers = {**_JSON_HEADERS, **(headers or {})}
        elif files is not None:
            body = _form(files)  # built per attempt below: a form can be sent once
        else:
            body = content
        url = f"{self.base_url}{path}"
        timeout = self._timeout_of(timeout_s)

        async def send_once(resend_count: int = 0) -> ServiceResponse:
            data = _form(files) if files is not None else body
            if self._tracer is None:
                return await self._send(method, url, data, params, user_id, headers, timeout)
            return await self._traced_send(
                method, url, data, params, user_id, headers, timeout, resend_count
            )

        try:
            try:
                response = await send_once()
            except (DownstreamUnavailable, _RetryableStatus):
                if not retry or self._retries < 1:
                    raise
                # Only a failed first attempt pays for the retry machinery.
                async for attempt in AsyncRetrying(
                    stop=stop_after_attempt(self._retries),
                    wait=wait_exponential_jitter(multiplier=0.05, max=1.0),
                    retry=retry_if_exception_type((DownstreamUnavailable, _RetryableStatus)),
                    reraise=True,
                ):
                    with attempt:
                        response = await send_once(attempt.retry_state.attempt_number)
        except _RetryableStatus as exc:
            _log.warning("downstream_5xx", service=self.service, status=exc.status)
            raise DownstreamUnavailable(self.service, f"answered {exc.status}") from exc
        if response.status >= 400:
            raise DownstreamError(self.service, response.status, response.content)
        return response

    async def _send(
        self,
        method: str,
        url: str,
        data: Any,
        params: Mapping[str, str | int] | None,
        user_id: str | None,
        headers: Mapping[str, str] | None,
        client_timeout: aiohttp.ClientTimeout | None,
    ) -> ServiceResponse:
        with self._breaker_call():
            try:
                async with self._http().request(
                    method,
                    url,
                    data=data,
                    params=params,
                    headers=self._headers(user_id, headers),
                    timeout=client_timeout,
                ) as response:
                    content = await response.read()
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise DownstreamUnavailable(self.service, _reason(exc)) from exc
            if response.status >= 500:
                raise _RetryableStatus(response.status)
        if user_id is not None and self.on_version is not None:
            version = response.headers.get(VERSION_HEADER)
            self.on_version(user_id, int(version) if version and version.isdigit() else None)
        return ServiceResponse(response.status, response.headers, content)

    async def _traced_send(
        self,
        method: str,
        url: str,
        data: Any,
        params: Mapping[str, str | int] | None,
        user_id: str | None,
        headers: Mapping[str, str] | None,
        client_timeout: aiohttp.ClientTimeout | None,
        resend_count: int,
    ) -> ServiceResponse:
        assert self._tracer is not None
        with tracing.client_span(self._tracer, method, url, self._peer, resend_count) as span:
            # This attempt's span is the callee's parent, not the request's server span.
            extra = {**(headers or {}), TRACEPARENT_HEADER: tracing.traceparent(span)}
            try:
                response = await self._send(
                    method, url, data, params, user_id, extra, client_timeout
                )
            except _RetryableStatus as exc:
                tracing.answered(span, exc.status)
                raise
            tracing.answered(span, response.status)
            return response

    async def ping(self) -> None:
        """GET /health once, outside the breaker and without retries (readiness checks)."""
        async with self._http().get(
            f"{self.base_url}/health", timeout=self._timeout_of(self._connect_timeout_s)
        ) as response:
            response.raise_for_status()

    async def get_json(self, path: str, **kwargs: Any) -> Any:
        return (await self.request("GET", path, **kwargs)).json()

    async def post_json(self, path: str, **kwargs: Any) -> Any:
        response = await self.request("POST", path, **kwargs)
        return response.json() if response.content else None

    @contextlib.asynccontextmanager
    async def stream(
        self,
        method: str,
        path: str,
        *,
        user_id: str | None = None,
        content: AsyncIterable[bytes] | None = None,
        headers: Mapping[str, str] | None = None,
        read_timeout_s: float | None = None,
        guarded: bool = True,
    ) -> AsyncIterator[StreamedResponse]:
        """Send `content` as it comes and read the answer as it arrives; not retried.

        With `read_timeout_s`, the call has no overall deadline, only a bound on each silence
        (an event stream, a large file). An unguarded call (the process's own background
        streams) neither waits for nor counts toward the circuit breaker."""
        timeout = None
        if read_timeout_s is not None:
            timeout = aiohttp.ClientTimeout(
                total=None, connect=self._connect_timeout_s, sock_read=read_timeout_s
            )
        method = method.upper()
        url = f"{self.base_url}{path}"
        # A stream's span ends once its status is known: its body may flow for hours.
        traced: contextlib.AbstractContextManager[Span | None] = (
            _UNTRACED
            if self._tracer is None
            else tracing.client_span(self._tracer, method, url, self._peer)
        )
        with traced as span, self._breaker_call() if guarded else contextlib.nullcontext():
            if span is not None:
                headers = {**(headers or {}), TRACEPARENT_HEADER: tracing.traceparent(span)}
            try:
                response = await self._http().request(
                    method,
                    url,
                    data=content,
                    headers=self._headers(user_id, headers),
                    timeout=timeout,
                )
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise DownstreamUnavailable(self.service, _reason(exc)) from exc
            if span is not None:
                tracing.answered(span, response.status)
            if response.status >= 500:
                response.release()
                raise DownstreamUnavailable(self.service, f"answered {response.status}")
        # The breaker has its outcome once the status is known; what the caller does with
        # the body (and a connection lost mid-body) is the caller's to handle.
        try:
            if response.status >= 400:
                raise DownstreamError(self.service, response.status, await response.read())
            try:
                yield StreamedResponse(response)
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise DownstreamUnavailable(self.service, _reason(exc)) from exc
        finally:
            response.release()

    def _breaker_call(self) -> _BreakerCall:
        return _BreakerCall(self.service, self.breaker)


class _BreakerCall:
    """One call as the breaker sees it, up to its status: refused while open; a transport
    failure or 5xx counts against the downstream, any answer below 500 for it. A call cancelled
    before its outcome (a caller's timeout) counts as neither and frees the half-open trial."""

    __slots__ = ("_breaker", "_service")

    def __init__(self, service: str, breaker: CircuitBreaker) -> None:
        self._service = service
        self._breaker = breaker

    def __enter__(self) -> None:
        if not self._breaker.allow():
            raise DownstreamUnavailable(
                self._service, "circuit open", max(1.0, self._breaker.retry_after_s())
            )

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        if exc_type is None:
            self._breaker.record_success()
        elif issubclass(exc_type, (DownstreamUnavailable, _RetryableStatus)):
            self._breaker.record_failure()
        else:  # cancelled, or a bug of ours: no outcome
            self._breaker.release_trial()


def _reason(exc: BaseException) -> str:
    """A short, stable name for why a call got no answer (it reaches logs and error bodies)."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "ConnectError"
    if isinstance(exc, TimeoutError):
        return "Timeout"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "Disconnected"
    return type(exc).__name__


def _form(files: Mapping[str, FilePart]) -> aiohttp.FormData:
    form = aiohttp.FormData()
    for name, (filename, value, content_type) in files.items():
        form.add_field(name, value, filename=filename, content_type=content_type)
    return form
