"""Settings of the notifications service (env prefix TERN_NOTIFICATIONS_)."""

from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from services.kit.settings import ServiceSettings


class NotificationsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TERN_NOTIFICATIONS_", extra="ignore")

    service_name: ClassVar[str] = "notifications"

    port: int = 8104
