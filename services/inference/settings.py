"""Settings of the inference service (env prefix TERN_INFERENCE_)."""

from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from services.kit.settings import ServiceSettings


class InferenceSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TERN_INFERENCE_", extra="ignore")

    service_name: ClassVar[str] = "inference"

    port: int = 8103
