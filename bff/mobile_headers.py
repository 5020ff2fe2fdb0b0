"""The headers every phone sends: read once per request, logged, and used as metric labels."""

from __future__ import annotations

import re
from contextvars import ContextVar
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from services.kit.errors import invalid_input
from services.kit.middleware import ExtraLabels
from services.kit.request_context import request_headers

_SCOPE_KEY = "tern.mobile_headers"
_MAX_LOGGED_LENGTH = 64
_DEVICE_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_APP_VERSION_RE = re.compile(r"^v?(\d{1,4})\.(\d{1,4})(?:[.+-].*)?$")
_PLATFORMS = frozenset({"ios", "android"})
OTHER = "other"


@dataclass(frozen=True, slots=True)
class MobileHeaders:
    """What the app said about itself; every field may be missing."""

    app_version: str | None = None
    platform: str | None = None
    os_version: str | None = None
    device_model: str | None = None
    device_id: str | None = None
    timezone: str | None = None

    @classmethod
    def from_scope(cls, scope: Scope) -> MobileHeaders:
        """The headers of a request, read once and kept in its scope."""
        cached = scope.get(_SCOPE_KEY)
        if isinstance(cached, MobileHeaders):
            return cached
        headers = request_headers(scope)
        parsed = cls(
            app_version=_clean(headers.get("x-app-version")),
            platform=_clean(headers.get("x-platform"), lower=True),
            os_version=_clean(headers.get("x-os-version")),
            device_model=_clean(headers.get("x-device-model")),
            device_id=_clean(headers.get("x-device-id")),
            timezone=_clean(headers.get("x-timezone")),
        )
        scope[_SCOPE_KEY] = parsed
        return parsed

    def log_fields(self) -> dict[str, str]:
        """The fields given, for the access log line."""
        fields = {
            "app_version": self.app_version,
            "platform": self.platform,
            "os_version": self.os_version,
            "device_model": self.device_model,
            "device_id": self.device_id,
            "timezone": self.timezone,
        }
        return {name: value for name, value in fields.items() if value is not None}

    @property
    def platform_label(self) -> str:
        """A bounded metric label: a known platform or "other"."""
        return self.platform if self.platform in _PLATFORMS else OTHER


def _clean(value: str | None, *, lower: bool = False) -> str | None:
    if value is None:
        return None
    value = value.strip()[:_MAX_LOGGED_LENGTH]
    if not value:
        return None
    return value.lower() if lower else value


def valid_device_id(value: str) -> str:
    """A device id the app sent, checked; 422 INVALID_DEVICE_ID when malformed."""
    if not _DEVICE_ID_RE.match(value):
        raise invalid_input("INVALID_DEVICE_ID", "a device id is 1-128 letters, digits or . _ : -")
    return value


_NONE_GIVEN = MobileHeaders()
_current: ContextVar[MobileHeaders | None] = ContextVar("tern_mobile_headers", default=None)


def current_mobile_headers() -> MobileHeaders:
    """The mobile headers of the request being served (all missing outside a request)."""
    return _current.get() or _NONE_GIVEN


class MobileHeadersMiddleware:
    """Reads the mobile headers into the request scope and a contextvar."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            _current.set(MobileHeaders.from_scope(scope))
        await self.app(scope, receive, send)


class AppVersionLabels:
    """major.minor of the app version as a metric label, at most `limit` distinct ones."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._seen: set[str] = set()

    def label(self, app_version: str | None) -> str:
        match = _APP_VERSION_RE.match(app_version or "")
        if match is None:
            return OTHER
        label = f"{int(match.group(1))}.{int(match.group(2))}"
        if label in self._seen:
            return label
        if len(self._seen) >= self._limit:
            return OTHER
        self._seen.add(label)
        return label


METRIC_LABELS = ("platform", "app_version")


def metric_labeler(limit: int) -> ExtraLabels:
    """The `extra_labels` callable of the app factory: (platform, app version)."""
    versions = AppVersionLabels(limit)

    def labels(scope: Scope) -> tuple[str, ...]:
        headers = MobileHeaders.from_scope(scope)
        return (headers.platform_label, versions.label(headers.app_version))

    return labels


def log_fields(scope: Scope) -> dict[str, str]:
    """The `log_fields` callable of the app factory: the mobile headers given."""
    return MobileHeaders.from_scope(scope).log_fields()
