"""The push providers' HTTP/2 client: a few connections, many streams on each.

Push fan-out is one small POST per device, so the client's CPU per request bounds the
service. Each connection is a pyreqwest client (hyper's HTTP/2 in Rust behind an asyncio
API): 72 us of client CPU per push against 240 us for the h2-state-machine client this
replaced and ~2 ms for httpx (`tests/bench/results/provider_client.md`). HTTP/2 only: h2c with
prior knowledge on http://, TLS with ALPN h2 on https:// (hyper honours the provider's stream
limit and never indexes `authorization` in HPACK). Pushes go round-robin over `connections`
clients, each with its own connection, opened on first use and again after a loss.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson
from pyreqwest.client import Client, ClientBuilder
from pyreqwest.exceptions import ConnectError, PyreqwestError, RequestTimeoutError, TransportError

# The answer headers a sender reads (ProviderResponse.headers holds these only).
ANSWER_HEADERS = ("apns-id", "retry-after", "content-type")


class ProviderUnreachable(Exception):
    """The request got no answer (refused, reset, timed out); safe to try again later."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ProviderResponse:
    """A provider's answer: status, the lower-case `ANSWER_HEADERS` it carried, body."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict[str, Any]:
        """The body as a JSON object; {} when it is empty or not one."""
        try:
            parsed = orjson.loads(self.body)
        except orjson.JSONDecodeError:
            return {}
        return parsed if isinstance(parsed, dict) else {}


class ProviderHttp2Client:
    """POSTs to one provider origin over `connections` HTTP/2 connections."""

    def __init__(self, base_url: str, *, timeout_s: float, connections: int = 2) -> None:
        self._base_url = base_url.rstrip("/")
        timeout = timedelta(seconds=timeout_s)
        self._clients: list[Client] = [
            ClientBuilder()
            .http2_prior_knowledge()
            .timeout(timeout)
            .connect_timeout(timeout)
            .pool_max_idle_per_host(1)
            .build()
            for _ in range(max(1, connections))
        ]
        self._next = itertools.cycle(self._clients)

    async def post(self, path: str, headers: Mapping[str, str], body: bytes) -> ProviderResponse:
        """Send one request; raises ProviderUnreachable when no answer came."""
        request = (
            next(self._next).post(self._base_url + path).headers(headers).body_bytes(body).build()
        )
        try:
            response = await request.send()
            # An empty answer (APNs' 200) is not read: one wait on the runtime less a push.
            empty = response.get_header("content-length") == "0"
            body = b"" if empty else (await response.bytes()).to_bytes()
        except PyreqwestError as exc:
            raise ProviderUnreachable(_reason(exc)) from exc
        # Only the headers the senders read: copying them all costs more than the rest.
        headers = {
            name: value
            for name in ANSWER_HEADERS
            if (value := response.get_header(name)) is not None
        }
        return ProviderResponse(response.status, headers, body)

    async def aclose(self) -> None:
        for client in self._clients:
            await client.close()


def _reason(exc: PyreqwestError) -> str:
    """What went wrong, as the delivery's attempt records it."""
    if isinstance(exc, RequestTimeoutError):
        return "TRANSPORT_TIMEOUT"
    if isinstance(exc, ConnectError):
        # Refused, unreachable, TLS or HTTP/2 not agreed; hyper also reports a connection
        # lost while a push was being sent as one.
        return "TRANSPORT_CONNECTION_FAILED"
    if isinstance(exc, TransportError):
        return "TRANSPORT_CLOSED"  # reset or dropped while the answer was read
    return "HTTP2_PROTOCOL_ERROR"
