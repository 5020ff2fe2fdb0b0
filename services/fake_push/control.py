"""Dev-only inspection and fault injection: what arrived, and make the next requests fail."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from starlette.responses import Response

from services.fake_push.recorder import InjectedFailure, ProviderName, ProviderRecorder
from services.kit.routing import PrefixedRouter

# Callers may name the platform (ios/android) or the provider (apns/fcm).
_PROVIDERS: dict[str, ProviderName] = {
    "apns": "apns",
    "ios": "apns",
    "fcm": "fcm",
    "android": "fcm",
}
PlatformName = Literal["apns", "ios", "fcm", "android"]


class FailureRequest(BaseModel):
    """POST /_fake/failures: the next `count` requests of `platform` fail this way."""

    platform: PlatformName
    status: int = Field(ge=400, le=599)
    reason: str = Field(min_length=1, max_length=100)
    count: int = Field(default=1, ge=1, le=10_000)
    retry_after: int | None = Field(default=None, ge=0, le=86_400)
    # FCM only: the field a google.rpc.BadRequest detail names (e.g. "message.token").
    field: str | None = Field(default=None, max_length=100)


class LatencyRequest(BaseModel):
    """PUT /_fake/latency: answer each push of `platform` (of both, when not named) only
    `seconds` after it arrived; the push counts as received on arrival."""

    platform: PlatformName | None = None
    seconds: float = Field(ge=0, le=60)


def build_control_router(recorder: ProviderRecorder) -> APIRouter:
    router = PrefixedRouter(prefix="/_fake", tags=["control"])

    @router.get("/received")
    async def received(
        platform: Annotated[PlatformName | None, Query()] = None,
        token: Annotated[str | None, Query()] = None,
    ) -> list[dict[str, Any]]:
        provider = _PROVIDERS[platform] if platform else None
        return [push.as_json() for push in recorder.query(provider, token)]

    @router.delete("/received", status_code=204)
    async def clear() -> Response:
        recorder.clear()
        return Response(status_code=204)

    @router.post("/failures", status_code=201)
    async def inject(failure: FailureRequest) -> dict[str, Any]:
        provider = _PROVIDERS[failure.platform]
        recorder.inject(
            provider,
            InjectedFailure(
                status=failure.status,
                reason=failure.reason,
                remaining=failure.count,
                retry_after_s=failure.retry_after,
                field=failure.field,
            ),
        )
        queued = sum(f.remaining for f in recorder.failures[provider])
        return {"platform": provider, "queued": queued}

    @router.put("/latency")
    async def set_latency(latency: LatencyRequest) -> dict[ProviderName, float]:
        providers: list[ProviderName] = (
            [_PROVIDERS[latency.platform]] if latency.platform else ["apns", "fcm"]
        )
        for provider in providers:
            recorder.latency_s[provider] = latency.seconds
        return dict(recorder.latency_s)

    @router.get("/latency")
    async def get_latency() -> dict[ProviderName, float]:
        return dict(recorder.latency_s)

    return router
