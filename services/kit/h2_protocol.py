"""Hypercorn's HTTP/2 protocol, with the request-body race fixed.

When an app answers before it has read the whole request body (a 401 on an upload with an
expired token, a 413 from the body limit), the client's remaining DATA frames arrive for a
stream Hypercorn already closed, and Hypercorn 0.18 raises KeyError and drops the whole
connection: the phone never sees its 401 and every other stream on that connection fails.
Upstream: pgjones/hypercorn#334 (and #312, #365), not released. Remove this when it is.
"""

from __future__ import annotations

import h2.events
import hypercorn.protocol
from hypercorn.protocol.h2 import H2Protocol


class ClosedStreamSafeH2Protocol(H2Protocol):
    """Drops (and credits to flow control) DATA that arrives for an already answered stream."""

    async def _handle_events(self, events: list[h2.events.Event]) -> None:
        for event in events:
            if isinstance(event, h2.events.DataReceived) and event.stream_id not in self.streams:
                # Credit the connection window, or the client stalls on other streams.
                self.connection.acknowledge_received_data(
                    event.flow_controlled_length, event.stream_id
                )
                continue
            await super()._handle_events([event])
        await self._flush()


def install(protocol: type[H2Protocol] = ClosedStreamSafeH2Protocol) -> None:
    """Make every HTTP/2 connection Hypercorn opens in this process use `protocol`."""
    hypercorn.protocol.H2Protocol = protocol  # type: ignore[attr-defined]
