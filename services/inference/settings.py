"""Settings of the inference service (env prefix TERN_INFERENCE_)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.kit.settings import ServiceSettings


class InferenceSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TERN_INFERENCE_", extra="ignore")

    service_name: ClassVar[str] = "inference"

    port: int = 8103
    # Largest model artifact accepted at registration (bytes).
    max_artifact_bytes: int = Field(default=100 * 1024 * 1024, ge=1)
    # Most features and classes one model version may declare.
    max_features: int = Field(default=1000, ge=1)
    max_classes: int = Field(default=1000, ge=2)
    # Longest string value accepted for a string feature in a predict row.
    max_string_value_chars: int = Field(default=10_000, ge=1)
    # How many loaded ONNX sessions stay in memory, least recently used evicted first.
    model_cache_size: int = Field(default=8, ge=1)
    # Threads that run onnxruntime (loading and predicting) off the event loop.
    inference_threads: int = Field(default=2, ge=1)
    # onnxruntime threads inside one run; 1 so concurrent requests don't fight over cores.
    onnx_intra_op_threads: int = Field(default=1, ge=1)
