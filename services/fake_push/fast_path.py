"""Answer the two provider routes before routing and middleware, so the fake is not the
bottleneck of a push benchmark. Same handlers, same answers; only /_fake, /token, /health and
/metrics go through the full app (so those provider requests are not in the fake's /metrics)."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from services.fake_push.apns import apns_push
from services.fake_push.fcm import fcm_send
from services.fake_push.recorder import ProviderRecorder

_APNS_PREFIX = "/3/device/"
_FCM_PATH = re.compile(r"^/v1/projects/([^/]+)/messages:send$")


class ProviderFastPath:
    """ASGI middleware: APNs pushes and FCM sends go straight to their handlers."""

    def __init__(self, app: ASGIApp, recorder: ProviderRecorder, token_max_age_s: int) -> None:
        self.app = app
        self.recorder = recorder
        self.token_max_age_s = token_max_age_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            path: str = scope["path"]
            if path.startswith(_APNS_PREFIX) and "/" not in path[len(_APNS_PREFIX) :]:
                request = Request(scope, receive)
                token = path[len(_APNS_PREFIX) :]
                response = await apns_push(self.recorder, self.token_max_age_s, token, request)
                await response(scope, receive, send)
                return
            match = _FCM_PATH.match(path)
            if match:
                response = await fcm_send(self.recorder, match.group(1), Request(scope, receive))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
