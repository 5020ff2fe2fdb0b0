"""An ASGI app served by Hypercorn (uvloop, h2c) in a process of its own, for load generators."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from typing import Any

import httpx


def serve_forever(app: Any, port: int) -> None:
    """Serve `app` on 127.0.0.1:`port` until killed: no access log, keep-alive unbounded."""
    import uvloop
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    config.keep_alive_max_requests = 1_000_000
    uvloop.run(serve(app, config, shutdown_trigger=asyncio.Event().wait))


def start(module: str, args: list[str], url: str) -> subprocess.Popen[bytes]:
    """Run `python -m module *args` and wait until `url` answers 200; the running process."""
    proc = subprocess.Popen(
        [sys.executable, "-m", module, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(200):
        try:
            if httpx.get(url, timeout=0.5).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"{module} {' '.join(args)} did not start serving {url}")
