"""The inference service app: model registry and predictions."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack
from pathlib import Path

from fastapi import FastAPI

from proto.common import INTERNAL_PREFIX
from services.inference.context import InferenceContext
from services.inference.endpoints import internal_router
from services.inference.model_cache import ModelCache
from services.inference.prediction_cache import PredictionCache
from services.inference.registry_changes import forgetting_changed_targets
from services.inference.serving_targets import ServingTargets
from services.inference.settings import InferenceSettings
from services.inference.tables import FEED
from services.kit.app_factory import create_service_app
from services.kit.file_store_settings import build_file_store
from services.kit.runtime import ServiceRuntime

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Room for the metadata part and multipart framing around the largest artifact.
_MULTIPART_OVERHEAD_BYTES = 1024 * 1024


def create_app(settings: InferenceSettings | None = None) -> FastAPI:
    """Build the inference service app."""
    settings = settings or InferenceSettings()

    async def startup(runtime: ServiceRuntime, stack: AsyncExitStack) -> None:
        context: InferenceContext = app.state.context
        stack.push_async_callback(context.store.aclose)
        stack.callback(context.executor.shutdown, wait=True, cancel_futures=True)
        stack.callback(context.cache.clear)
        stack.callback(context.predictions.clear)
        stack.callback(context.targets.clear)
        await stack.enter_async_context(
            forgetting_changed_targets(runtime.versions, context.targets)
        )

    app = create_service_app(
        settings,
        title="Tern inference",
        migrations_dir=MIGRATIONS_DIR,
        startup=startup,
        # First match wins: registration takes artifacts, every other model route small JSON.
        body_limit_overrides={
            f"{INTERNAL_PREFIX}/models/versions": settings.max_artifact_bytes
            + _MULTIPART_OVERHEAD_BYTES,
            f"{INTERNAL_PREFIX}/models/": settings.max_predict_body_bytes,
        },
        context=build_context,
        error_statuses=frozenset({429, 503}),  # predictions are rate limited per user
        change_feed=FEED,
    )
    app.include_router(internal_router)
    return app


def build_context(runtime: ServiceRuntime) -> InferenceContext:
    """The registry's store, the model cache and the inference threads (no I/O).

    Artifacts live in the configured file store (`artifacts/` under the service dir unless it
    is an S3-compatible bucket shared by the replicas); loaded models in this process only."""
    settings = runtime.settings
    assert isinstance(settings, InferenceSettings)
    store = build_file_store(settings, settings.service_dir / "artifacts")
    if settings.store_url:
        runtime.checks["store"] = store.ping
    return InferenceContext(
        settings=settings,
        db=runtime.db,
        store=store,
        cache=ModelCache(settings.model_cache_size, settings.model_cache_max_bytes),
        executor=ThreadPoolExecutor(
            max_workers=settings.inference_threads, thread_name_prefix="inference"
        ),
        limits=runtime.cache,
        predictions=PredictionCache(
            settings.prediction_cache_entries,
            settings.prediction_cache_ttl_s,
            settings.prediction_cache_max_value_bytes,
            # The kit cache is Redis when configured; in-process it would only repeat L1.
            shared=runtime.cache if settings.redis_url else None,
        ),
        targets=ServingTargets(settings.serving_target_ttl_s, settings.serving_target_entries),
    )
