"""An ASGI app served (uvloop; h2c and HTTP/1.1) in a process of its own, for load generators."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Mapping
from typing import Any

import httpx


def serve_forever(app: Any, port: int, server: str = "granian") -> None:
    """Serve `app` on 127.0.0.1:`port` with the kit's server until killed."""
    import uvloop

    from services.kit.server import Listen, serve

    uvloop.run(serve(app, Listen("127.0.0.1", port), server, asyncio.Event()))  # type: ignore[arg-type]


def start(
    module: str,
    args: list[str],
    url: str,
    env: Mapping[str, str] | None = None,
    attempts: int = 200,
) -> subprocess.Popen[bytes]:
    """Run `python -m module *args` (in `env`, else this process's environment) and wait until
    `url` answers 200, trying `attempts` times; the running process."""
    proc = subprocess.Popen(
        [sys.executable, "-m", module, *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(attempts):
        try:
            if httpx.get(url, timeout=0.5).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"{module} {' '.join(args)} did not start serving {url}")
