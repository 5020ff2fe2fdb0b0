"""Reading a service's Server-Sent Events stream: (event, data) per dispatched event."""

from __future__ import annotations

from collections.abc import AsyncIterator


async def read_events(chunks: AsyncIterator[bytes]) -> AsyncIterator[tuple[str, str]]:
    """Each event of the stream as (its `event` name, "message" by default; its `data`);
    comments, ids and retry hints are skipped."""
    buffer = b""
    event, data = "message", list[str]()
    async for chunk in chunks:
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for raw in lines:
            line = raw.rstrip(b"\r").decode()
            if not line:
                if data:
                    yield event, "\n".join(data)
                event, data = "message", []
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)
