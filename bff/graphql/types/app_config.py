"""What the app reads at launch, as this device sees it (its X-Platform, X-App-Version and
X-Device-ID headers): update needed or offered, maintenance, feature flags."""

from __future__ import annotations

import strawberry
from strawberry.scalars import JSON

from bff.app_config.schemas import AppConfig as AppConfigOut


@strawberry.type
class Maintenance:
    enabled: bool
    message: str | None


@strawberry.type
class AppConfig:
    platform: str | None
    min_version: str | None
    latest_version: str | None
    force_update: bool
    update_available: bool
    update_url: str | None
    maintenance: Maintenance
    flags: JSON = strawberry.field(description="Flag key -> on for this device.")

    @classmethod
    def from_model(cls, config: AppConfigOut) -> AppConfig:
        """From the config as `GET /api/v1/app-config` answers it."""
        return cls(
            platform=config.platform,
            min_version=config.min_version,
            latest_version=config.latest_version,
            force_update=config.force_update,
            update_available=config.update_available,
            update_url=config.update_url,
            maintenance=Maintenance(
                enabled=config.maintenance.enabled, message=config.maintenance.message
            ),
            flags=JSON(config.flags),
        )
