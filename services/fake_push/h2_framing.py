"""Make Hypercorn answer a body-less HTTP/2 response as one HEADERS frame with END_STREAM.

Hypercorn 0.18 sends HEADERS, then ends the stream with an empty DATA frame. Real APNs
answers a 200 as HEADERS+END_STREAM only, and some clients (aioapns) break on the empty
DATA frame, so the fake provider must frame it like Apple does. Only responses that declare
`content-length: 0` are held back, so streaming responses keep their timing.
"""

from __future__ import annotations

from typing import Any

import h2.exceptions
from hypercorn.protocol.events import EndBody, Response
from hypercorn.protocol.events import Event as StreamEvent

from services.kit import h2_protocol
from services.kit.h2_protocol import ClosedStreamSafeH2Protocol

_EMPTY_LENGTH = (b"content-length", b"0")


class EndStreamOnHeadersH2Protocol(ClosedStreamSafeH2Protocol):
    """H2Protocol that folds END_STREAM into the HEADERS frame of an empty response."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._held: dict[int, Response] = {}

    async def stream_send(self, event: StreamEvent) -> None:
        if isinstance(event, Response) and _EMPTY_LENGTH in event.headers:
            self._held[event.stream_id] = event
            return
        held = self._held.pop(event.stream_id, None)
        if held is not None:
            if isinstance(event, EndBody):
                await self._send_headers_only(held)
                return
            await super().stream_send(held)
        await super().stream_send(event)

    async def _send_headers_only(self, response: Response) -> None:
        stream_id = response.stream_id
        try:
            self.connection.send_headers(
                stream_id,
                [
                    (b":status", b"%d" % response.status_code),
                    *response.headers,
                    *self.config.response_headers("h2"),
                ],
                end_stream=True,
            )
            await self._flush()
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
            pass  # the client went away; nothing left to answer
        buffer = self.stream_buffers.pop(stream_id, None)
        if buffer is not None:
            await buffer.close()
            self.priority.remove_stream(stream_id)


def install() -> None:
    """Use the END_STREAM-on-HEADERS protocol for every HTTP/2 connection Hypercorn opens."""
    h2_protocol.install(EndStreamOnHeadersH2Protocol)
