"""Answer APNs pushes and FCM sends inside Hypercorn's HTTP/2 protocol, before any ASGI work.

A push benchmark must measure the service, not its fake. Through Hypercorn's ASGI path each
stream costs a stream object, a task, event queues and the app's routing and middleware: the
fake topped out near 600 requests/s. Here provider streams are answered straight from the h2
events with the same handlers the ASGI routes use (`apns.answer_push`, `fcm.answer_send`);
everything else (/_fake, /token, /health, /metrics, HTTP/1.1, h2c upgrades) goes through
Hypercorn and the app as before. A body-less answer is one HEADERS frame with END_STREAM, the
way Apple answers a 200 (aioapns breaks on an empty DATA frame).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import h2.events
import h2.exceptions
from hpack import HeaderTuple, NeverIndexedHeaderTuple
from hypercorn.events import Updated
from hypercorn.protocol.h2 import H2Protocol, StreamBuffer

from services.fake_push import apns, fcm
from services.fake_push.provider_answer import ProviderAnswer
from services.fake_push.recorder import ProviderRecorder
from services.kit import h2_protocol
from services.kit.h2_protocol import ClosedStreamSafeH2Protocol

_HTTP_VERSION = "2"


@dataclass(frozen=True, slots=True)
class ProviderRoutes:
    """The two provider routes of one fake: which paths they own and how they answer."""

    recorder: ProviderRecorder
    token_max_age_s: int

    def owns(self, method: str, path: str) -> bool:
        if method != "POST":
            return False
        return _apns_token(path) is not None or fcm.SEND_PATH.match(path) is not None

    def latency_s(self, path: str) -> float:
        """How long the provider that owns `path` waits before it answers (/_fake/latency)."""
        return self.recorder.latency_s["apns" if _apns_token(path) is not None else "fcm"]

    def answer(self, path: str, headers: Mapping[str, str], body: bytes) -> ProviderAnswer:
        token = _apns_token(path)
        if token is not None:
            return apns.answer_push(
                self.recorder, self.token_max_age_s, token, headers, body, _HTTP_VERSION
            )
        match = fcm.SEND_PATH.match(path)
        assert match is not None  # owns() said so
        return fcm.answer_send(self.recorder, match.group(1), headers, body, _HTTP_VERSION)


def _apns_token(path: str) -> str | None:
    if not path.startswith(apns.PUSH_PATH_PREFIX):
        return None
    token = path[len(apns.PUSH_PATH_PREFIX) :]
    return token if token and "/" not in token else None


@dataclass(slots=True)
class _Request:
    path: str
    headers: dict[str, str]
    body: bytearray = field(default_factory=bytearray)


class ProviderH2Protocol(ClosedStreamSafeH2Protocol):
    """Hypercorn's HTTP/2 protocol that answers provider streams itself."""

    routes: ProviderRoutes

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._requests: dict[int, _Request] = {}
        self._answers_waiting = 0  # answers held back by the configured latency

    @property
    def idle(self) -> bool:
        return self._answers_waiting == 0 and super().idle

    async def _handle_events(self, events: list[h2.events.Event]) -> None:
        others: list[h2.events.Event] = []
        answered = False
        for event in events:
            stream_id = getattr(event, "stream_id", None)
            if isinstance(event, h2.events.RequestReceived):
                if not self._take(event):
                    others.append(event)
            elif stream_id not in self._requests:
                others.append(event)
            elif isinstance(event, h2.events.DataReceived):
                self._requests[event.stream_id].body += event.data
                self.connection.acknowledge_received_data(
                    event.flow_controlled_length, event.stream_id
                )
            elif isinstance(event, h2.events.StreamEnded):
                request = self._requests.pop(event.stream_id)
                # Answered (and recorded) on arrival; only sending the answer may wait.
                answer = self.routes.answer(request.path, request.headers, bytes(request.body))
                delay = self.routes.latency_s(request.path)
                if delay > 0:
                    await self._answer_later(event.stream_id, answer, delay)
                else:
                    await self._answer(event.stream_id, answer)
                    answered = True
            elif isinstance(event, h2.events.StreamReset):
                del self._requests[event.stream_id]
            # PriorityUpdated for a stream answered here: no priority tree entry to keep.
        if others:
            await super()._handle_events(others)  # flushes
        else:
            await self._flush()
        if answered and self.idle:
            await self.send(Updated(idle=True))  # keep-alive timeout counts from now

    def _take(self, event: h2.events.RequestReceived) -> bool:
        """Start buffering a provider request; False when Hypercorn should serve the stream."""
        if self.context.terminated.is_set():
            return False  # Hypercorn refuses new streams while shutting down
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in event.headers}
        path = headers.get(":path", "").partition("?")[0]
        if not self.routes.owns(headers.get(":method", ""), path):
            return False
        # A body-less request still gets its StreamEnded event next; it is answered then.
        self._requests[event.stream_id] = _Request(path, headers)
        return True

    async def _answer_later(self, stream_id: int, answer: ProviderAnswer, delay: float) -> None:
        """Send `answer` after `delay` seconds, without holding up the connection's other
        streams (a slow provider answers each stream late, not one after the other)."""
        if self._answers_waiting == 0:
            await self.send(Updated(idle=False))  # no keep-alive timeout while answers wait
        self._answers_waiting += 1
        self.task_group.spawn(self._send_after, stream_id, answer, delay)

    async def _send_after(self, stream_id: int, answer: ProviderAnswer, delay: float) -> None:
        try:
            await asyncio.sleep(delay)
            if not self.closed:
                await self._answer(stream_id, answer)
                await self._flush()
        finally:
            self._answers_waiting -= 1
        if not self.closed and self.idle:
            await self.send(Updated(idle=True))

    async def _answer(self, stream_id: int, answer: ProviderAnswer) -> None:
        headers = [
            HeaderTuple(b":status", b"%d" % answer.status),
            *(_header(name.encode(), value.encode()) for name, value in answer.headers.items()),
            HeaderTuple(b"content-length", b"%d" % len(answer.body)),
            *self.config.response_headers("h2"),
        ]
        try:
            self.connection.send_headers(stream_id, headers, end_stream=not answer.body)
            if not answer.body:
                return
            room = min(
                self.connection.local_flow_control_window(stream_id),
                self.connection.max_outbound_frame_size,
            )
            if len(answer.body) <= room:
                self.connection.send_data(stream_id, answer.body, end_stream=True)
            else:
                await self._send_when_window_opens(stream_id, answer.body)
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
            pass  # the client reset the stream or went away; nothing left to answer

    async def _send_when_window_opens(self, stream_id: int, body: bytes) -> None:
        # Hypercorn's send task writes stream buffers as flow control allows, then ends them.
        buffer = StreamBuffer(self.context.event_class)
        self.stream_buffers[stream_id] = buffer
        self.priority.insert_stream(stream_id)
        await buffer.push(body)
        buffer.set_complete()
        await self.has_data.set()


def _header(name: bytes, value: bytes) -> HeaderTuple:
    # apns-id is new on every answer: kept out of the HPACK table, where it would only evict
    # the headers that repeat.
    if name == b"apns-id":
        return NeverIndexedHeaderTuple(name, value)
    return HeaderTuple(name, value)


def provider_h2_protocol(routes: ProviderRoutes) -> type[H2Protocol]:
    """The HTTP/2 protocol class that answers `routes` itself."""
    return type("ProviderH2Protocol", (ProviderH2Protocol,), {"routes": routes})


def install(routes: ProviderRoutes) -> None:
    """Answer `routes` in every HTTP/2 connection Hypercorn opens in this process."""
    h2_protocol.install(provider_h2_protocol(routes))
