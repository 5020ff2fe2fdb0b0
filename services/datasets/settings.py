"""Settings of the datasets service (env prefix TERN_DATASETS_)."""

from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from services.kit.settings import ServiceSettings


class DatasetsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TERN_DATASETS_", extra="ignore")

    service_name: ClassVar[str] = "datasets"

    port: int = 8101
