"""GET /internal/v1/versions/watch: every committed (owner, version) of this service, as it
happens, for the BFF's caches. One JSON line per batch of events, a blank line every few
seconds while nothing happens; the stream ends (and the watcher reconnects and starts afresh)
when this process shuts down or the watcher falls behind."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
from fastapi import APIRouter, Depends, Request
from starlette.responses import StreamingResponse

from services.kit.change_versions import WATCH_PATH, Subscription
from services.kit.dependencies import Runtime, service_principal
from services.kit.routing import FixedPathsRouter

HEARTBEAT_S = 5.0
_MEDIA_TYPE = "application/x-ndjson"


def build_version_watch_router() -> APIRouter:
    router = FixedPathsRouter(include_in_schema=False, dependencies=[Depends(service_principal)])

    @router.get(WATCH_PATH)
    async def watch(request: Request, runtime: Runtime) -> StreamingResponse:
        subscription = await runtime.versions.subscribe()  # before the answer starts
        return StreamingResponse(
            _lines(subscription, shutdown_event(request)), media_type=_MEDIA_TYPE
        )

    return router


def shutdown_event(request: Request) -> asyncio.Event:
    """Set when the server begins to shut down (services.kit.server.serve sets it)."""
    event = getattr(request.app.state, "shutting_down", None)
    return event if isinstance(event, asyncio.Event) else asyncio.Event()


async def _lines(subscription: Subscription, stopping: asyncio.Event) -> AsyncIterator[bytes]:
    queue = subscription.queue
    stop = asyncio.ensure_future(stopping.wait())
    try:
        yield b"\n"  # the watcher knows it is registered
        while True:
            get = asyncio.ensure_future(queue.get())
            done, _ = await asyncio.wait(
                {get, stop}, timeout=HEARTBEAT_S, return_when=asyncio.FIRST_COMPLETED
            )
            if stop in done:
                get.cancel()
                return
            if get not in done:
                get.cancel()
                yield b"\n"
                continue
            batch = [get.result()]
            while not queue.empty() and len(batch) < 500:
                batch.append(queue.get_nowait())
            if None in batch:
                return  # fell behind: end, so the watcher starts afresh
            yield orjson.dumps(batch) + b"\n"
    finally:
        stop.cancel()
        await subscription.close()
