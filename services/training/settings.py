"""Settings of the training service (env prefix TERN_TRAINING_)."""

from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from services.kit.settings import ServiceSettings


class TrainingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TERN_TRAINING_", extra="ignore")

    service_name: ClassVar[str] = "training"

    port: int = 8102
    datasets_url: str = "http://127.0.0.1:8101"
    inference_url: str = "http://127.0.0.1:8103"
    notifications_url: str = "http://127.0.0.1:8104"
