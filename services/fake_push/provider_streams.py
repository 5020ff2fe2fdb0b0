"""Answer APNs pushes and FCM sends in front of the app, before routing and middleware.

A push benchmark must measure the service, not its fake. Through FastAPI each push would
cost routing, dependency solving and the kit's middleware; here a provider request is read
and answered straight from the ASGI scope with the same handlers for every protocol
(`apns.answer_push`, `fcm.answer_send`), on whichever server the process runs. Everything
else (/_fake, /token, /health, /metrics) goes through the app. A body-less answer is one
HEADERS frame with END_STREAM on HTTP/2, the way Apple answers a 200 (aioapns breaks on an
empty DATA frame); both servers send it so when the body is empty.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from services.fake_push import apns, fcm
from services.fake_push.provider_answer import ProviderAnswer
from services.fake_push.recorder import ProviderRecorder
from services.kit.asgi_body import read_body


@dataclass(frozen=True, slots=True)
class ProviderRoutes:
    """The two provider routes of one fake: which paths they own and how they answer."""

    recorder: ProviderRecorder
    token_max_age_s: int

    def owns(self, method: str, path: str) -> bool:
        if method != "POST":
            return False
        return _apns_token(path) is not None or fcm.SEND_PATH.match(path) is not None

    def latency_s(self, path: str) -> float:
        """How long the provider that owns `path` waits before it answers (/_fake/latency)."""
        return self.recorder.latency_s["apns" if _apns_token(path) is not None else "fcm"]

    def answer(
        self, path: str, headers: Mapping[str, str], body: bytes, http_version: str
    ) -> ProviderAnswer:
        token = _apns_token(path)
        if token is not None:
            return apns.answer_push(
                self.recorder, self.token_max_age_s, token, headers, body, http_version
            )
        match = fcm.SEND_PATH.match(path)
        assert match is not None  # owns() said so
        return fcm.answer_send(self.recorder, match.group(1), headers, body, http_version)


def _apns_token(path: str) -> str | None:
    if not path.startswith(apns.PUSH_PATH_PREFIX):
        return None
    token = path[len(apns.PUSH_PATH_PREFIX) :]
    return token if token and "/" not in token else None


class ProviderFrontDoor:
    """Pure ASGI middleware: provider requests are answered here, the rest pass on."""

    def __init__(self, app: ASGIApp, routes: ProviderRoutes) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.routes.owns(scope["method"], scope["path"]):
            await self.app(scope, receive, send)
            return
        body = await read_body(receive)
        if body is None:
            return  # the client went away mid-request
        path: str = scope["path"]
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        # Answered (and recorded) on arrival; only sending the answer may wait.
        answer = self.routes.answer(path, headers, body, str(scope.get("http_version", "")))
        delay = self.routes.latency_s(path)
        if delay > 0:
            await asyncio.sleep(delay)
        raw_headers = [(b"content-length", b"%d" % len(answer.body))]
        raw_headers += [(k.encode(), v.encode()) for k, v in answer.headers.items()]
        await send({"type": "http.response.start", "status": answer.status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": answer.body})
