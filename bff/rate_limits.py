"""Rate limits per device and per user, per route class, over the kit cache's sliding window.

In-process by default, shared by every replica when the kit cache is Redis. Each answer
carries X-RateLimit-Limit / -Remaining / -Reset of the tightest window; over it, 429 with
Retry-After in the mobile error format.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.kit.cache import Cache, WindowDecision
from services.kit.error_responses import error_response
from services.kit.errors import Action, ApiError
from services.kit.request_context import request_headers

UserOfToken = Callable[[str], str | None]
"""The user id of a valid access token, else None (checked without the database)."""

_LIMITED = ("/api/", "/graphql")
_GRAPHQL_PREFIX = "/graphql"
_AUTH_PREFIX = "/api/v1/auth/"
_BATCH_PATH = "/api/v1/batch"
_UPLOADS_PREFIX = "/api/v1/uploads/"


@dataclass(frozen=True, slots=True)
class Limit:
    hits: int
    window_s: float

    @classmethod
    def parse(cls, value: str) -> Limit:
        """ "hits/seconds", e.g. "300/60"."""
        hits, _, seconds = value.partition("/")
        limit = cls(int(hits), float(seconds))
        if limit.hits < 1 or limit.window_s <= 0:
            raise ValueError(f"a rate limit is hits/seconds, both positive: {value!r}")
        return limit


def route_class(method: str, path: str) -> str:
    """Which limit a request counts against."""
    if path.startswith(_AUTH_PREFIX):
        return "auth"
    if path.startswith(_GRAPHQL_PREFIX):
        return "graphql"
    if path == _BATCH_PATH:
        return "batch"
    if path.startswith(_UPLOADS_PREFIX) and "/chunks/" in path:
        return "upload"  # a large file is many chunks: its own, larger budget
    return "read" if method in ("GET", "HEAD", "OPTIONS") else "write"


class RateLimitMiddleware:
    """Counts each API request against its device's and its user's window."""

    def __init__(
        self, app: ASGIApp, *, cache: Cache, limits: dict[str, str], user_of: UserOfToken
    ) -> None:
        self.app = app
        self.cache = cache
        self.limits = {name: Limit.parse(value) for name, value in limits.items()}
        self.user_of = user_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(_LIMITED):
            await self.app(scope, receive, send)
            return
        kind = route_class(scope["method"], scope["path"])
        limit = self.limits.get(kind)
        if limit is None:
            await self.app(scope, receive, send)
            return
        decision = await self._count(kind, limit, self._identities(scope))
        if not decision.allowed:
            error = rate_limited(kind, decision.reset_after_s)
            error.headers.update(_limit_headers(decision))
            await error_response(error)(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in _limit_headers(decision).items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _identities(self, scope: Scope) -> list[str]:
        headers = request_headers(scope)
        identities = []
        authorization = headers.get("authorization", "")
        scheme, _, token = authorization.partition(" ")
        user = self.user_of(token.strip()) if scheme.lower() == "bearer" and token else None
        if user is not None:
            identities.append(f"user:{user}")
        device = headers.get("x-device-id")
        if device:
            identities.append(f"device:{device[:128]}")
        if not identities:  # anonymous and no device: the address is all there is
            client = scope.get("client")
            identities.append(f"ip:{client[0] if client else 'unknown'}")
        return identities

    async def _count(self, kind: str, limit: Limit, identities: list[str]) -> WindowDecision:
        # All windows at once: a request the device's window refuses must not spend the
        # user's quota (or the other way round), or one noisy device would throttle the
        # user's other devices with requests that were never served.
        keys = [f"{kind}:{identity}" for identity in identities]
        return await self.cache.hit_all(keys, limit.hits, limit.window_s)


def rate_limited(kind: str, retry_after_s: float) -> ApiError:
    """429 in the mobile error format, with Retry-After."""
    return ApiError(
        429,
        "RATE_LIMITED",
        f"too many {kind} requests; retry in {math.ceil(retry_after_s)} s",
        action=Action.RETRY,
        retry_allowed=True,
        retry_after_s=max(1.0, retry_after_s),
        details={"route_class": kind},
    )


def _limit_headers(decision: WindowDecision) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(decision.limit),
        "X-RateLimit-Remaining": str(max(0, decision.remaining)),
        "X-RateLimit-Reset": str(math.ceil(decision.reset_after_s)),
    }
