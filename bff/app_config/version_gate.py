"""The gate every API call passes: 503 MAINTENANCE while maintenance mode is on, and 426
UPGRADE_REQUIRED for apps below their platform's minimum version."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from bff.app_config.service import AppConfigService, Snapshot
from bff.app_config.versions import is_below
from bff.mobile_headers import MobileHeaders
from services.kit.error_responses import error_response
from services.kit.errors import Action, ApiError

# The app must still learn where to update, and read the maps it decodes with.
_ALWAYS_OPEN = ("/api/v1/app-config", "/api/v1/schema/keys")
_GATED = ("/api/", "/graphql")
_MAINTENANCE_RETRY_S = 60


class VersionGateMiddleware:
    """Refuses requests from app versions below the minimum of their platform."""

    def __init__(self, app: ASGIApp, *, config: AppConfigService) -> None:
        self.app = app
        self.config = config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] not in ("http", "websocket")
            or not path.startswith(_GATED)
            or path.startswith(_ALWAYS_OPEN)
        ):
            await self.app(scope, receive, send)
            return
        error = _refusal(await self.config.snapshot(), MobileHeaders.from_scope(scope))
        if error is None:
            await self.app(scope, receive, send)
        elif scope["type"] == "http":
            await error_response(error)(scope, receive, send)
        else:
            await send({"type": "websocket.close", "code": 4000 + error.status})


def _refusal(snapshot: Snapshot, mobile: MobileHeaders) -> ApiError | None:
    if snapshot.maintenance:
        return in_maintenance(snapshot.maintenance_message)
    if mobile.platform is None or mobile.app_version is None:
        return None
    release = snapshot.releases.get(mobile.platform)
    if release is not None and is_below(mobile.app_version, release.min_version):
        return upgrade_required(release.min_version, release.update_url)
    return None


def in_maintenance(message: str | None) -> ApiError:
    """503: the API is paused for maintenance; the app shows `message`."""
    return ApiError(
        503,
        "MAINTENANCE",
        "the service is in maintenance",
        user_message=message or "We're doing some maintenance. Please try again soon.",
        action=Action.RETRY,
        retry_after_s=_MAINTENANCE_RETRY_S,
    )


def upgrade_required(min_version: str | None, update_url: str | None) -> ApiError:
    """426: this app version is no longer supported."""
    return ApiError(
        426,
        "UPGRADE_REQUIRED",
        f"this app version is no longer supported; the minimum is {min_version}",
        user_message="A new version of the app is required. Please update to continue.",
        action=Action.UPDATE_APP,
        retry_allowed=False,
        details={"min_version": min_version, "update_url": update_url},
    )
