"""Change versions on the bus: an answer goes out only once its commits' versions have.

Found by tests/integration/test_scale_out.py: a phone that created a job through one BFF and
read its dashboard through the other got the page from before the job, because the training
replica answered before its Redis publish had left, and the other BFF heard of the new
version after the phone's read.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, cast

from sqlalchemy.orm import Session
from starlette.responses import JSONResponse
from starlette.types import Message, Receive, Scope, Send

from services.kit import change_versions
from services.kit.change_versions import VersionEvent
from services.kit.metrics import HttpMetrics
from services.kit.middleware import RequestContextMiddleware


class _SlowBus:
    """A bus whose sends take a while (a Redis round trip), recording what got out."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.sent: list[VersionEvent] = []

    def publish(self, events: list[VersionEvent]) -> asyncio.Task[None]:
        async def send() -> None:
            await asyncio.sleep(self.delay_s)
            self.sent.extend(events)

        return asyncio.ensure_future(send())


class _Session:
    """What the commit hook reads of a session: its `info`."""

    def __init__(self) -> None:
        self.info: dict[str, Any] = {}


def _committing_app(bus: _SlowBus) -> Any:
    hook = change_versions.publish_committed(bus)  # type: ignore[arg-type]

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        session = cast(Session, _Session())
        change_versions.act_for("u1")
        change_versions.note(session, "u1", 7)
        hook(session)  # the transaction committed
        await JSONResponse({"ok": True})(scope, receive, send)

    return app


async def _call(app: Any, bus: _SlowBus) -> tuple[list[Message], list[list[VersionEvent]]]:
    """What the app sent, and what the bus had sent by the time each message went out."""
    sent: list[Message] = []
    seen: list[list[VersionEvent]] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)
        seen.append(list(bus.sent))

    scope = {"type": "http", "method": "POST", "path": "/jobs", "headers": []}
    await RequestContextMiddleware(app, HttpMetrics("test"))(scope, receive, send)
    return sent, seen


async def test_an_answer_starts_only_once_its_versions_are_on_the_bus() -> None:
    bus = _SlowBus(delay_s=0.05)

    sent, seen = await _call(_committing_app(bus), bus)

    assert sent[0]["type"] == "http.response.start"
    assert seen[0] == [("u1", 7, None)]  # out before the caller could ask another replica
    assert (b"x-tern-version", b"7") in sent[0]["headers"]


async def test_a_request_that_commits_nothing_waits_for_nothing() -> None:
    bus = _SlowBus(delay_s=10.0)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await JSONResponse({"ok": True})(scope, receive, send)

    started = time.perf_counter()
    sent, _ = await _call(app, bus)

    assert sent[0]["status"] == 200
    assert time.perf_counter() - started < 1.0


async def test_a_stuck_bus_holds_an_answer_back_only_so_long() -> None:
    change_versions.start_request()
    stuck: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    bus = _SlowBus(delay_s=0)
    bus.publish = lambda events: stuck  # type: ignore[assignment, return-value]
    hook = change_versions.publish_committed(bus)  # type: ignore[arg-type]
    session = cast(Session, _Session())
    change_versions.note(session, "u1", 3)
    hook(session)

    started = time.perf_counter()
    await change_versions.published(timeout_s=0.05)

    assert 0.04 < time.perf_counter() - started < 1.0
    stuck.cancel()
