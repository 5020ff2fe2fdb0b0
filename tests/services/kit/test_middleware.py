"""The kit's ASGI middleware, driven message by message."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import Message, Receive, Scope, Send

from services.kit.middleware import BodySizeLimitMiddleware


async def _reads_body(scope: Scope, receive: Receive, send: Send) -> None:
    body = await Request(scope, receive).body()
    await JSONResponse({"size": len(body)})(scope, receive, send)


class _Upload:
    """A client sending `chunks` body messages of `size` bytes, counting what the server read."""

    def __init__(self, chunks: int, size: int) -> None:
        self.messages: list[Message] = [
            {"type": "http.request", "body": b"x" * size, "more_body": n < chunks - 1}
            for n in range(chunks)
        ]
        self.read = 0
        self.sent: list[Message] = []

    async def receive(self) -> Message:
        if self.read == len(self.messages):
            raise AssertionError("read past the end of the body")
        self.read += 1
        return self.messages[self.read - 1]

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    def status_and_headers(self) -> tuple[int, dict[str, str]]:
        starts = [m for m in self.sent if m["type"] == "http.response.start"]
        assert len(starts) == 1, self.sent
        headers = {k.decode(): v.decode() for k, v in starts[0]["headers"]}
        return starts[0]["status"], headers


def _scope(http_version: str) -> dict[str, Any]:
    return {
        "type": "http",
        "method": "PUT",
        "path": "/blob",
        "headers": [],
        "http_version": http_version,
    }


async def test_http1_reads_the_rest_of_a_refused_body_so_the_413_is_not_reset() -> None:
    upload = _Upload(chunks=10, size=1000)
    app = BodySizeLimitMiddleware(_reads_body, max_bytes=2500)

    await app(_scope("1.1"), upload.receive, upload.send)

    status, headers = upload.status_and_headers()
    assert status == 413
    assert upload.read == 10  # the whole body, so the connection can serve the next request
    assert "connection" not in headers


async def test_http1_gives_up_draining_a_huge_body_and_closes() -> None:
    upload = _Upload(chunks=100, size=100_000)  # 10 MB against a 1 kB limit
    app = BodySizeLimitMiddleware(_reads_body, max_bytes=1000)

    await app(_scope("1.1"), upload.receive, upload.send)

    status, headers = upload.status_and_headers()
    assert status == 413
    assert upload.read < 60
    assert headers["connection"] == "close"


async def test_http2_answers_at_once() -> None:
    upload = _Upload(chunks=10, size=1000)
    app = BodySizeLimitMiddleware(_reads_body, max_bytes=2500)

    await app(_scope("2"), upload.receive, upload.send)

    status, _headers = upload.status_and_headers()
    assert status == 413
    assert upload.read == 3  # the chunk that crossed the limit, and nothing after it
