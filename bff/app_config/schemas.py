"""The answer of GET /api/v1/app-config."""

from __future__ import annotations

from pydantic import BaseModel


class MaintenanceOut(BaseModel):
    enabled: bool
    message: str | None = None


class AppConfig(BaseModel):
    """What the app needs at launch: whether to update, whether to pause, which flags are on."""

    platform: str | None = None
    min_version: str | None = None
    latest_version: str | None = None
    force_update: bool
    update_available: bool
    update_url: str | None = None
    maintenance: MaintenanceOut
    flags: dict[str, bool]
