"""Serve an app on uvloop with the ASGI server the process is set to: Granian or Hypercorn.

Granian (Rust, hyper) is the default: in `tests/bench/results/servers.md` it serves the same
FastAPI app 3-4x faster than Hypercorn over h2c and HTTP/1.1. Hypercorn stays a supported
choice (`TERN_<SERVICE>_SERVER=hypercorn`) and CI runs the integration tests on it too.
Either way: HTTP/2 over TLS by ALPN when a certificate is set, else h2c and HTTP/1.1 on one
port; the app's lifespan runs here, around the server, so start-up and shutdown are the same
on both; on SIGINT/SIGTERM new connections are refused, requests in flight get
`graceful_timeout_s` to finish, then what is left is cancelled quietly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import weakref
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvloop
from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

from services.kit.gc_tuning import settle_for_serving
from services.kit.settings import ServerName, ServiceSettings

_KEEP_ALIVE_S = 75  # phones reuse connections; stay above typical load-balancer idle time
_MAX_STREAMS = 100


@dataclass(frozen=True, slots=True)
class Listen:
    """Where and how one process listens."""

    host: str
    port: int
    certfile: Path | None = None
    keyfile: Path | None = None
    graceful_timeout_s: float = 10.0

    @classmethod
    def of(cls, settings: ServiceSettings) -> Listen:
        return cls(settings.host, settings.port, settings.tls_certfile, settings.tls_keyfile)


async def serve(app: ASGIApp, listen: Listen, server: ServerName, shutdown: asyncio.Event) -> None:
    """Run the app's lifespan and serve it until `shutdown` is set; then stop gracefully.

    A Starlette app's lifespan runs here; a bare ASGI app gets no lifespan events."""
    in_flight: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()
    lifespan: contextlib.AbstractAsyncContextManager[Any] = _no_lifespan()
    if isinstance(app, Starlette):
        lifespan = app.router.lifespan_context(app)
        # Endless streams (event streams, version watches) end when this is set.
        app.state.shutting_down = shutdown
    async with lifespan:
        inner = _served(app, in_flight)
        if server == "granian":
            await _serve_granian(inner, listen, shutdown)
        else:
            await _serve_hypercorn(inner, listen, shutdown)
        # What the server gave up on at the graceful timeout (event streams) still has tasks:
        # cancel them before the lifespan closes the database under them.
        leftovers = [task for task in in_flight if not task.done()]
        for task in leftovers:
            task.cancel()
        if leftovers:
            await asyncio.wait(leftovers, timeout=2)


@contextlib.asynccontextmanager
async def _no_lifespan() -> AsyncIterator[None]:
    yield


def run(create_app: Callable[[Any], Starlette], settings: ServiceSettings) -> None:
    """Build the app and serve it until SIGINT/SIGTERM."""
    app = create_app(settings)
    settle_for_serving()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(app, Listen.of(settings), settings.server, stop)

    uvloop.run(main())


def _served(app: ASGIApp, in_flight: weakref.WeakSet[asyncio.Task[Any]]) -> ASGIApp:
    """The app as the server sees it: lifespan events are answered here (the lifespan runs
    in `serve`), and each request's task is known until it ends."""

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            task = asyncio.current_task()
            if task is not None:
                in_flight.add(task)
            await app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    return asgi


def _refuse_taken_port(listen: Listen) -> None:
    """Fail like any server would when the port is taken: Granian binds with SO_REUSEPORT,
    so a second process on one port would otherwise quietly share its connections."""
    family = socket.AF_INET6 if ":" in listen.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is fine
        try:
            probe.bind((listen.host, listen.port))
        except OSError as exc:
            where = f"{listen.host}:{listen.port}"
            raise OSError(exc.errno, f"cannot listen on {where}: {exc.strerror}") from exc


async def _serve_granian(app: ASGIApp, listen: Listen, shutdown: asyncio.Event) -> None:
    from granian.constants import HTTPModes, Interfaces, SSLProtocols
    from granian.http import HTTP1Settings, HTTP2Settings
    from granian.log import LogLevels
    from granian.server.embed import Server

    _refuse_taken_port(listen)
    granian_log = logging.getLogger("_granian")
    server = Server(
        app,
        address=listen.host,
        port=listen.port,
        interface=Interfaces.ASGINL,
        http=HTTPModes.auto,
        websockets=True,
        backlog=1024,
        http1_settings=HTTP1Settings(keep_alive=True),
        http2_settings=HTTP2Settings(
            max_concurrent_streams=_MAX_STREAMS, keep_alive_timeout=_KEEP_ALIVE_S
        ),
        log_enabled=True,
        log_level=LogLevels.warning,
        ssl_cert=listen.certfile,
        ssl_key=listen.keyfile,
        ssl_protocol_min=SSLProtocols.tls12,
    )
    # Granian configures its own text handler at construction: its lines go through ours.
    granian_log.handlers.clear()
    granian_log.propagate = True
    task = asyncio.create_task(server.serve())
    stopping = asyncio.create_task(shutdown.wait())
    await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():  # the server failed (a port taken, a bad certificate)
        stopping.cancel()
        task.result()
        return
    server.stop()  # type: ignore[no-untyped-call]
    try:
        await asyncio.wait_for(asyncio.shield(task), listen.graceful_timeout_s)
    except TimeoutError:
        for worker in server.wrks:  # requests still running past the timeout: stop serving
            worker.kill()  # type: ignore[no-untyped-call]
        with contextlib.suppress(BaseException):
            await task


async def _serve_hypercorn(app: ASGIApp, listen: Listen, shutdown: asyncio.Event) -> None:
    from hypercorn.asyncio import serve as hypercorn_serve
    from hypercorn.config import Config

    from services.kit import h2_protocol

    h2_protocol.install()
    config = Config()
    config.bind = [f"{listen.host}:{listen.port}"]
    config.accesslog = None  # our middleware writes access lines with route templates
    config.errorlog = logging.getLogger("hypercorn.error")  # through our JSON handler
    config.graceful_timeout = listen.graceful_timeout_s
    config.keep_alive_timeout = _KEEP_ALIVE_S
    config.h2_max_concurrent_streams = _MAX_STREAMS
    # Hypercorn closes a connection after 1,000 requests by default; a phone on a slow link
    # pays a new handshake for that, so keep connections much longer.
    config.keep_alive_max_requests = 100_000
    if listen.certfile and listen.keyfile:
        config.certfile = str(listen.certfile)
        config.keyfile = str(listen.keyfile)
        config.alpn_protocols = ["h2", "http/1.1"]
    await hypercorn_serve(app, config, shutdown_trigger=shutdown.wait)  # type: ignore[arg-type]
