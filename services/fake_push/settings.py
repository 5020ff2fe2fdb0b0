"""Settings of the fake push provider (env prefix TERN_FAKE_PUSH_)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import model_validator
from pydantic_settings import SettingsConfigDict

from services.kit.settings import ServiceSettings


class FakePushSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TERN_FAKE_PUSH_", extra="ignore")

    service_name: ClassVar[str] = "fake_push"

    port: int = 8105
    # Oldest entries are dropped beyond this many recorded pushes.
    max_recorded: int = 10_000
    # Access tokens handed out by POST /token live this long.
    access_token_ttl_s: int = 3600
    # APNs refuses provider tokens older than an hour (ExpiredProviderToken).
    apns_token_max_age_s: int = 3600

    @model_validator(mode="after")
    def _development_only(self) -> FakePushSettings:
        if self.environment == "production":
            raise ValueError(
                "TERN_FAKE_PUSH_ENVIRONMENT: the fake push provider never runs in production"
            )
        return self
