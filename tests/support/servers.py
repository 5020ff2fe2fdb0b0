"""Serve an app on a free loopback port with the kit's server (h2c and HTTP/1.1 on one port)."""

from __future__ import annotations

import asyncio
import collections
import os
import random
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import cast

import httpx
from starlette.applications import Starlette

from services.kit.server import Listen, ServerName, serve

# Ports handed out by free_port come from a block of this test process's own, below the
# kernel's ephemeral range (32768-60999 by default): a port is bound some time after it is
# chosen, and one the kernel picked (bind to port 0) could meanwhile be picked again by the
# other xdist worker, or become the source port of an outgoing connection.
_BLOCK_START, _BLOCK_SIZE = 12000, 4000
# Not handed out again soon: a stack is given all its ports before any process binds one.
_recent: collections.deque[int] = collections.deque(maxlen=256)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now, and that no other test
    process (xdist worker) can be given."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    start = _BLOCK_START + (int(worker) if worker.isdigit() else 0) % 5 * _BLOCK_SIZE
    for _ in range(_BLOCK_SIZE):
        port = start + random.randrange(_BLOCK_SIZE)
        if port in _recent:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _recent.append(port)
        return port
    raise RuntimeError(f"no free port left in {start}-{start + _BLOCK_SIZE - 1}")


def test_server() -> ServerName:
    """The server tests run apps on: TERN_TEST_SERVER, else the kit's default."""
    return cast(ServerName, os.environ.get("TERN_TEST_SERVER", "granian"))


@asynccontextmanager
async def serve_app(
    app: Starlette,
    *,
    ready_path: str = "/health",
    port: int | None = None,
    server: ServerName | None = None,
) -> AsyncIterator[str]:
    """Run `app` (lifespan included) in a background task; yield its base URL, then stop it.

    Pass `port` to serve again where a stopped app was (a restart)."""
    port = port or free_port()
    stop = asyncio.Event()
    listen = Listen("127.0.0.1", port, graceful_timeout_s=1)
    task = asyncio.create_task(serve(app, listen, server or test_server(), stop))
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
