"""Serve an app with Hypercorn on uvloop: HTTP/2 over TLS (ALPN) when a cert is set, else h2c."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

import uvloop
from fastapi import FastAPI
from hypercorn.asyncio import serve
from hypercorn.config import Config
from hypercorn.protocol.h2 import H2Protocol

from services.kit import h2_protocol
from services.kit.settings import ServiceSettings


def hypercorn_config(settings: ServiceSettings) -> Config:
    """Bind, TLS and timeouts for one process."""
    config = Config()
    config.bind = [f"{settings.host}:{settings.port}"]
    config.accesslog = None  # our middleware writes access lines with route templates
    # Hypercorn's own lines go through the root logger, i.e. our JSON handler (once).
    config.errorlog = logging.getLogger("hypercorn.error")
    config.graceful_timeout = 10
    config.keep_alive_timeout = 75  # phones reuse connections; stay above typical LB idle time
    config.h2_max_concurrent_streams = 100
    # Hypercorn closes a connection after 1,000 requests by default; a phone on a slow link
    # pays a new handshake for that, so keep connections much longer.
    config.keep_alive_max_requests = 100_000
    if settings.tls_certfile and settings.tls_keyfile:
        config.certfile = str(settings.tls_certfile)
        config.keyfile = str(settings.tls_keyfile)
        config.alpn_protocols = ["h2", "http/1.1"]
    return config


def run(
    create_app: Callable[[ServiceSettings], FastAPI],
    settings: ServiceSettings,
    h2_protocol_class: type[H2Protocol] = h2_protocol.ClosedStreamSafeH2Protocol,
) -> None:
    """Build the app and serve it until SIGINT/SIGTERM."""
    app = create_app(settings)
    config = hypercorn_config(settings)
    h2_protocol.install(h2_protocol_class)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(app, config, shutdown_trigger=stop.wait)  # type: ignore[arg-type]

    uvloop.run(main())
