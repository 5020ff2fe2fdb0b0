"""A lean HTTP/2 client for the push providers: a few connections, many streams on each.

Push fan-out is one small POST per device, so the client's cost per request bounds the
service. httpx (httpcore's HTTP/2 over anyio) spends about 2 ms of CPU per request here: a lock
and cancel scope per frame group and a socket write for each of headers, body and end of
stream. This client drives the `h2` state machine (the one httpx uses) from an asyncio
protocol: a request is one send_headers + send_data, writes are coalesced per event-loop turn,
and answers resolve futures. h2c with prior knowledge on http://, TLS with ALPN h2 on https://.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import urlsplit

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import hpack
import orjson
from hpack import HeaderTuple, NeverIndexedHeaderTuple


class ProviderUnreachable(Exception):
    """The request got no answer (refused, reset, timed out); safe to try again later."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ProviderResponse:
    """A provider's answer: status, lower-case headers, body."""

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
    """POSTs to one provider origin over `connections` HTTP/2 connections, opened lazily."""

    def __init__(self, base_url: str, *, timeout_s: float, connections: int = 2) -> None:
        url = urlsplit(base_url)
        self._tls = url.scheme == "https"
        self._host = url.hostname or "localhost"
        self._port = url.port or (443 if self._tls else 80)
        self._prefix = url.path.rstrip("/")
        self._pseudo = [
            HeaderTuple(b":method", b"POST"),
            HeaderTuple(b":scheme", url.scheme.encode()),
            HeaderTuple(b":authority", url.netloc.encode()),
        ]
        self._timeout_s = timeout_s
        self._slots: list[asyncio.Future[_Connection] | None] = [None] * max(1, connections)
        self._next = 0

    async def post(self, path: str, headers: Mapping[str, str], body: bytes) -> ProviderResponse:
        """Send one request; raises ProviderUnreachable when no answer came."""
        request_headers = [
            *self._pseudo,
            NeverIndexedHeaderTuple(b":path", (self._prefix + path).encode()),
            *(_header(name.lower().encode(), value.encode()) for name, value in headers.items()),
            HeaderTuple(b"content-length", b"%d" % len(body)),
        ]
        try:
            async with asyncio.timeout(self._timeout_s):
                connection = await self._connection_with_room()
                return await connection.request(request_headers, body)
        except TimeoutError:
            raise ProviderUnreachable("TRANSPORT_TIMEOUT") from None

    async def aclose(self) -> None:
        connecting = []
        for slot in self._slots:
            if slot is not None and slot.done() and not slot.cancelled() and not slot.exception():
                slot.result().close()
            elif slot is not None and not slot.done():
                slot.cancel()
                connecting.append(slot)
        await asyncio.gather(*connecting, return_exceptions=True)
        self._slots = [None] * len(self._slots)

    async def _connection_with_room(self) -> _Connection:
        while True:
            index = self._next
            self._next = (index + 1) % len(self._slots)
            connection = await self._connection(index)
            if connection.has_room():
                return connection
            connection.room.clear()
            await connection.room.wait()  # a stream ended, settings changed, or it closed

    async def _connection(self, index: int) -> _Connection:
        slot = self._slots[index]
        if slot is not None and slot.done():
            if slot.cancelled() or slot.exception() is not None or not slot.result().usable():
                slot = None
        if slot is None:
            slot = asyncio.ensure_future(self._connect())
            self._slots[index] = slot
        try:
            return await asyncio.shield(slot)
        except OSError as exc:
            raise ProviderUnreachable(f"TRANSPORT_{type(exc).__name__.upper()}") from exc

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        context = _tls_context() if self._tls else None
        _transport, connection = await loop.create_connection(
            _Connection,
            self._host,
            self._port,
            ssl=context,
            server_hostname=self._host if context else None,
        )
        if not connection.usable():
            raise ProviderUnreachable("TLS_NO_H2")  # the server did not agree to HTTP/2
        # Open no stream before the server's SETTINGS: past its stream limit, it would refuse
        # the connection (h2 assumes no limit until told).
        try:
            await connection.settled.wait()
        except asyncio.CancelledError:
            connection.close()
            raise
        if not connection.usable():
            raise ProviderUnreachable("TRANSPORT_CLOSED")
        return connection


# Kept out of the HPACK table: secrets (as h2 itself does) and values new on every push
# (apns-id; the :path with the device token), which would only evict the repeated headers.
_NOT_INDEXED = frozenset({b"authorization", b"proxy-authorization", b"apns-id"})


def _header(name: bytes, value: bytes) -> HeaderTuple:
    if name in _NOT_INDEXED:
        return NeverIndexedHeaderTuple(name, value)
    return HeaderTuple(name, value)


def _tls_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.set_alpn_protocols(["h2"])
    return context


class _LiteralEncoder(hpack.Encoder):
    """HPACK without Huffman coding: in pure Python, coding each push's path, apns-id and
    bearer token costs more CPU (here and in the provider) than the bytes it saves on loopback
    or a provider link. Still HPACK: repeated headers come from the dynamic table."""

    def encode(self, headers: Any, huffman: bool = True) -> bytes:
        return super().encode(headers, huffman=False)


@dataclass(slots=True)
class _Stream:
    answer: asyncio.Future[ProviderResponse]
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytearray = field(default_factory=bytearray)


class _Connection(asyncio.Protocol):
    """One HTTP/2 connection: streams in flight, flow control, GOAWAY, loss."""

    def __init__(self) -> None:
        # Request headers are built here from constants and URL-safe values, lower-cased and
        # marked for HPACK by `_header`, so h2's outbound validation and normalisation (a
        # quarter of the client's CPU per push) have nothing left to do. Of an answer only the
        # status and a header or two are read, so its headers are not validated either; the
        # frames and stream states still are.
        config = h2.config.H2Configuration(
            client_side=True,
            header_encoding=None,
            validate_outbound_headers=False,
            normalize_outbound_headers=False,
            validate_inbound_headers=False,
        )
        self._h2 = h2.connection.H2Connection(config)
        self._h2.encoder = _LiteralEncoder()
        self._transport: asyncio.Transport | None = None
        self._streams: dict[int, _Stream] = {}
        self._closing = False  # GOAWAY received or closed: no new streams
        self._write_pending = False
        self.settled = asyncio.Event()  # set once the server's SETTINGS arrived (or it closed)
        self.room = asyncio.Event()  # set when a request may find room again
        self._window = asyncio.Event()  # set when the peer opens flow-control windows

    def usable(self) -> bool:
        return not self._closing

    def has_room(self) -> bool:
        # Every stream of ours is closed in h2 by the time it leaves _streams (answered, reset
        # or cancelled), so this is h2's open_outbound_streams without its scan of all streams.
        return not self._closing and (
            len(self._streams) < self._h2.remote_settings.max_concurrent_streams
        )

    def close(self) -> None:
        if self._transport is not None and not self._closing:
            self._h2.close_connection()
            self._flush()
            self._transport.close()
        self._closing = True

    async def request(self, headers: list[HeaderTuple], body: bytes) -> ProviderResponse:
        stream_id = self._h2.get_next_available_stream_id()
        stream = _Stream(asyncio.get_running_loop().create_future())
        self._streams[stream_id] = stream
        try:
            self._h2.send_headers(stream_id, headers, end_stream=not body)
            await self._send_body(stream_id, body)
            self._schedule_write()
            return await stream.answer
        except h2.exceptions.H2Error as exc:
            raise ProviderUnreachable(f"HTTP2_{type(exc).__name__.upper()}") from exc
        finally:
            if self._streams.pop(stream_id, None) is not None and not self._closing:
                # Cancelled or timed out before the answer: tell the server we gave up.
                with contextlib.suppress(h2.exceptions.H2Error):
                    self._h2.reset_stream(stream_id, h2.errors.ErrorCodes.CANCEL)
                self._schedule_write()

    async def _send_body(self, stream_id: int, body: bytes) -> None:
        view = memoryview(body)
        while view:
            room = min(
                self._h2.local_flow_control_window(stream_id), self._h2.max_outbound_frame_size
            )
            if room <= 0:
                self._window.clear()
                self._flush()
                await self._window.wait()
                if self._closing and stream_id not in self._streams:
                    raise ProviderUnreachable("TRANSPORT_CLOSED")
                continue
            chunk, view = view[:room], view[room:]
            self._h2.send_data(stream_id, chunk.tobytes(), end_stream=not view)

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        ssl_object = self._transport.get_extra_info("ssl_object")
        if ssl_object is not None and ssl_object.selected_alpn_protocol() != "h2":
            self._closing = True
            self.settled.set()
            self._transport.close()
            return
        self._h2.initiate_connection()
        self._flush()

    def data_received(self, data: bytes) -> None:
        try:
            events = self._h2.receive_data(data)
        except h2.exceptions.ProtocolError:
            self._flush()
            self._lose("HTTP2_PROTOCOL_ERROR")
            return
        for event in events:
            self._handle(event)
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self._lose("TRANSPORT_CLOSED")

    def _handle(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.ResponseReceived):
            stream = self._streams.get(event.stream_id)
            if stream is not None:
                for name, value in event.headers:
                    if name == b":status":
                        stream.status = int(value)
                    else:
                        stream.headers[name.decode("latin-1")] = value.decode("latin-1")
        elif isinstance(event, h2.events.DataReceived):
            self._h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            stream = self._streams.get(event.stream_id)
            if stream is not None:
                stream.body += event.data
        elif isinstance(event, h2.events.StreamEnded):
            self._finish(event.stream_id)
        elif isinstance(event, h2.events.StreamReset):
            self._fail(event.stream_id, f"HTTP2_STREAM_RESET_{int(event.error_code)}")
        elif isinstance(event, (h2.events.WindowUpdated, h2.events.RemoteSettingsChanged)):
            self.settled.set()
            self._window.set()
            self.room.set()
        elif isinstance(event, h2.events.ConnectionTerminated):
            # GOAWAY: streams above last_stream_id were not processed and may go elsewhere.
            self._closing = True
            last = event.last_stream_id if event.last_stream_id is not None else 0
            for stream_id in [s for s in self._streams if s > last]:
                self._fail(stream_id, "HTTP2_GOAWAY")
            self.room.set()
            if not self._streams and self._transport is not None:
                self._transport.close()

    def _finish(self, stream_id: int) -> None:
        stream = self._streams.pop(stream_id, None)
        self.room.set()
        if stream is not None and not stream.answer.done():
            stream.answer.set_result(
                ProviderResponse(stream.status, stream.headers, bytes(stream.body))
            )
        if self._closing and not self._streams and self._transport is not None:
            self._transport.close()

    def _fail(self, stream_id: int, reason: str) -> None:
        stream = self._streams.pop(stream_id, None)
        self.room.set()
        if stream is not None and not stream.answer.done():
            stream.answer.set_exception(ProviderUnreachable(reason))

    def _lose(self, reason: str) -> None:
        self._closing = True
        for stream_id in list(self._streams):
            self._fail(stream_id, reason)
        self._window.set()
        self.room.set()
        self.settled.set()
        if self._transport is not None:
            self._transport.close()

    def _schedule_write(self) -> None:
        # Many requests start in one event-loop turn: send their frames in one write.
        if not self._write_pending:
            self._write_pending = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._write_pending = False
        data = self._h2.data_to_send()
        if data and self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)
