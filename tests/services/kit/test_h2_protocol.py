"""On Hypercorn, an early answer (before the request body is read) must not break the HTTP/2
connection (Granian's side of this is in test_app_factory)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI
from starlette.responses import JSONResponse

from tests.support.servers import serve_app


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.put("/upload")
    async def upload() -> JSONResponse:
        # Like an expired token on a chunk upload: answered without reading the body.
        return JSONResponse({"error": {"code": "TOKEN_EXPIRED"}}, status_code=401)

    return app


async def _slow_body() -> AsyncIterator[bytes]:
    for _ in range(16):
        yield b"x" * 65536
        await asyncio.sleep(0.005)


async def test_early_401_reaches_the_client_and_the_connection_lives_on() -> None:
    async with serve_app(_app(), server="hypercorn") as url:
        async with httpx.AsyncClient(http1=False, http2=True, base_url=url) as client:
            upload = asyncio.create_task(client.put("/upload", content=_slow_body()))
            others = await asyncio.gather(*(client.get("/health") for _ in range(5)))
            answered = await upload
            after = await client.get("/health")
    assert answered.status_code == 401
    assert answered.json()["error"]["code"] == "TOKEN_EXPIRED"
    assert [r.status_code for r in others] == [200] * 5
    assert after.status_code == 200 and after.http_version == "HTTP/2"
