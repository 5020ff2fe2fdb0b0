"""Settings of the inference service (env prefix TERN_INFERENCE_)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from proto.inference import MAX_PREDICT_ROWS
from services.kit.file_store_settings import FileStoreSettings

_MIB = 1024 * 1024


class InferenceSettings(FileStoreSettings):
    model_config = SettingsConfigDict(env_prefix="TERN_INFERENCE_", extra="ignore")

    service_name: ClassVar[str] = "inference"
    accepted_callers: ClassVar[frozenset[str]] = frozenset({"bff", "training"})

    port: int = 8103
    # Largest model artifact accepted at registration (bytes).
    max_artifact_bytes: int = Field(default=100 * _MIB, ge=1)
    # Largest predict request body (bytes); rows are small JSON objects.
    max_predict_body_bytes: int = Field(default=1 * _MIB, ge=1024)
    # Most rows in one predict request (the contract allows up to MAX_PREDICT_ROWS).
    max_predict_rows: int = Field(default=MAX_PREDICT_ROWS, ge=1, le=MAX_PREDICT_ROWS)
    # Most features and classes one model version may declare.
    max_features: int = Field(default=1000, ge=1)
    max_classes: int = Field(default=1000, ge=2)
    # Longest string value accepted for a string feature in a predict row.
    max_string_value_chars: int = Field(default=10_000, ge=1)
    # How many loaded models stay in memory, and their estimated memory budget (bytes);
    # least recently used evicted first when either is exceeded.
    model_cache_size: int = Field(default=8, ge=1)
    model_cache_max_bytes: int = Field(default=1024 * _MIB, ge=1)
    # Threads that run models (loading and predicting) off the event loop.
    inference_threads: int = Field(default=2, ge=1)
    # onnxruntime threads inside one run; 1 so concurrent requests don't fight over cores.
    onnx_intra_op_threads: int = Field(default=1, ge=1)
    # What predict serves (latest version, version under an alias) is kept in memory, dropped
    # at once on any replica's registry writes (the version bus, Redis when configured); a
    # write whose event was lost shows up within this bound (seconds; 0 reads the database on
    # every request).
    serving_target_ttl_s: float = Field(default=1.0, ge=0)
    serving_target_entries: int = Field(default=10_000, ge=1)
    # Micro-batching: concurrent requests for one model version run as one batch of at most
    # `batch_max_rows` rows; under load a batch waits at most `batch_max_wait_ms` to fill up.
    # A request that finds the model idle runs at once.
    batching_enabled: bool = True
    batch_max_rows: int = Field(default=256, ge=1)
    batch_max_wait_ms: float = Field(default=2.0, ge=0)
    # Prediction cache: answers by (model version, rows); L1 in process, L2 in Redis if set.
    prediction_cache_enabled: bool = True
    prediction_cache_entries: int = Field(default=10_000, ge=1)
    prediction_cache_ttl_s: float = Field(default=600.0, gt=0)
    # Largest answer kept in the cache (bytes of JSON); bigger answers are not cached.
    prediction_cache_max_value_bytes: int = Field(default=64 * 1024, ge=1)
    # Per-user sliding-window limit on predict calls (CPU-heavy).
    predict_rate_limit: int = Field(default=600, ge=1)
    predict_rate_window_s: float = Field(default=60.0, gt=0)
