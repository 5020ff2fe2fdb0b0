"""Serve an ASGI app with Hypercorn on a free loopback port (h2c and HTTP/1.1 on one port)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from hypercorn.asyncio import serve
from hypercorn.config import Config


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@asynccontextmanager
async def serve_app(
    app: Any, *, ready_path: str = "/health", port: int | None = None
) -> AsyncIterator[str]:
    """Run `app` (lifespan included) in a background task; yield its base URL, then stop it.

    Pass `port` to serve again where a stopped app was (a restart)."""
    port = port or free_port()
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    config.errorlog = None
    config.graceful_timeout = 1
    stop = asyncio.Event()
    task = asyncio.create_task(serve(app, config, shutdown_trigger=stop.wait))
    url = f"http://127.0.0.1:{port}"
    try:
        await _wait_until_serving(url + ready_path, task)
        yield url
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)


async def _wait_until_serving(url: str, task: asyncio.Task[None], timeout_s: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    async with httpx.AsyncClient(timeout=1) as client:
        while True:
            if task.done():
                task.result()  # raises the server's start-up error
                raise RuntimeError("server stopped before it was ready")
            try:
                await client.get(url)
                return
            except httpx.TransportError:
                if asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.02)
