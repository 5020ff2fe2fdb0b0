"""Predicting with a model: limit, resolve the version, cache, load, check, batch, run."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence

from proto.inference import FeatureSpec, Prediction, PredictRequest, PredictResponse
from services.inference.batching import MicroBatcher
from services.inference.context import Batcher, InferenceContext
from services.inference.model_cache import CacheKey, LoadedModel, ModelRunner
from services.inference.onnx_artifacts import onnx_runner
from services.inference.prediction import (
    Row,
    find_row_problems,
    rows_without_an_answer,
    run_model,
)
from services.inference.prediction_cache import prediction_key
from services.inference.registry import PRODUCTION_ALIAS, alias_not_found, version_not_found
from services.inference.repository import ModelRepository, serving_target
from services.inference.serving_targets import ServingTarget
from services.inference.tables import ModelVersionRow
from services.inference.torch_artifacts import open_torch_runner
from services.kit.errors import Action, ApiError, invalid_input, not_found
from services.kit.file_store import StoredFileMissing
from services.kit.structured_logging import get_logger

_PROBLEMS_IN_MESSAGE = 10

_log = get_logger(__name__)


async def predict(
    ctx: InferenceContext, owner_id: str, model_id: uuid.UUID, request: PredictRequest
) -> PredictResponse:
    """Predictions for the request's rows from the version it asks for."""
    await _check_rate(ctx, owner_id)
    limit = ctx.settings.max_predict_rows
    if len(request.rows) > limit:
        raise invalid_input("TOO_MANY_ROWS", f"at most {limit} rows per request", max_rows=limit)
    version = await _resolve_version(ctx, owner_id, model_id, request)
    use_cache = ctx.settings.prediction_cache_enabled
    key = prediction_key(model_id, version, request.rows) if use_cache else ""
    if use_cache and (cached := await ctx.predictions.get(key)) is not None:
        return PredictResponse(model_id=model_id, version=version, predictions=cached)
    loaded = await ctx.cache.get((model_id, version), lambda: load_model(ctx, model_id, version))
    _check_rows(ctx, loaded, request.rows)
    predictions = await _run(ctx, loaded, request.rows)
    _check_answers(predictions)
    if use_cache:
        await ctx.predictions.put(key, predictions)
    return PredictResponse(model_id=model_id, version=version, predictions=predictions)


async def _resolve_version(
    ctx: InferenceContext, owner_id: str, model_id: uuid.UUID, request: PredictRequest
) -> int:
    """The version asked for: explicit, else the alias, else production, else the latest."""
    alias = request.alias or PRODUCTION_ALIAS

    async def read() -> ServingTarget | None:
        async with ctx.db.engine.connect() as conn:
            return await serving_target(conn, owner_id, model_id, alias)

    target = await ctx.targets.get((owner_id, model_id, alias), read)
    if target is None:
        raise not_found("model", model_id)
    latest, aliased = target
    if request.version is not None:
        # Versions are numbered 1..latest and never deleted.
        if request.version > latest:
            raise version_not_found(model_id, request.version)
        return request.version
    if aliased is not None:
        return aliased
    if request.alias is not None:
        raise alias_not_found(model_id, request.alias)
    return latest


async def _check_rate(ctx: InferenceContext, owner_id: str) -> None:
    settings = ctx.settings
    try:
        decision = await ctx.limits.hit(
            f"predict:{owner_id}", settings.predict_rate_limit, settings.predict_rate_window_s
        )
    except Exception as exc:  # a limiter outage must not take predictions down with it
        _log.warning("predict_rate_limit_unavailable", error=type(exc).__name__)
        return
    if not decision.allowed:
        raise ApiError(
            429,
            "RATE_LIMITED",
            f"at most {settings.predict_rate_limit} predict calls per "
            f"{settings.predict_rate_window_s:g} s",
            action=Action.RETRY,
            retry_after_s=max(1.0, decision.reset_after_s),
            details={
                "limit": settings.predict_rate_limit,
                "window_s": settings.predict_rate_window_s,
            },
        )


def _check_rows(ctx: InferenceContext, loaded: LoadedModel, rows: Sequence[Row]) -> None:
    problems = find_row_problems(rows, loaded.features, ctx.settings.max_string_value_chars)
    if not problems:
        return
    shown = "; ".join(p.describe() for p in problems[:_PROBLEMS_IN_MESSAGE])
    more = len(problems) - _PROBLEMS_IN_MESSAGE
    raise invalid_input(
        "INVALID_ROWS",
        f"rows do not match the model's features: {shown}"
        + (f" (and {more} more)" if more > 0 else ""),
        problems=[{"row": p.row, "feature": p.feature, "problem": p.problem} for p in problems],
    )


def _check_answers(predictions: Sequence[Prediction]) -> None:
    """Refuse (422) rows the model had no finite answer for: this request's own rows only, so
    one caller's extreme values never fail the others batched with them."""
    bad = rows_without_an_answer(predictions)
    if bad:
        shown = ", ".join(map(str, bad[:_PROBLEMS_IN_MESSAGE]))
        raise invalid_input(
            "NO_FINITE_PREDICTION",
            f"the model has no finite answer for row(s) {shown}: their values are too large "
            "for it; scale them to the range the model was trained on",
            rows=bad[:100],
        )


async def _run(ctx: InferenceContext, loaded: LoadedModel, rows: Sequence[Row]) -> list[Prediction]:
    if not ctx.settings.batching_enabled:
        return await ctx.in_pool(run_model, loaded, rows)
    return await _batcher(ctx, (loaded.model_id, loaded.version)).predict(loaded, rows)


def _batcher(ctx: InferenceContext, key: CacheKey) -> Batcher:
    batcher = ctx.batchers.get(key)
    if batcher is None:
        settings = ctx.settings

        async def run_batch(model: LoadedModel, rows: list[Row]) -> list[Prediction]:
            return await ctx.in_pool(run_model, model, rows)

        def forget() -> None:
            if ctx.batchers.get(key) is batcher:
                del ctx.batchers[key]

        batcher = MicroBatcher(
            run_batch,
            max_rows=settings.batch_max_rows,
            max_wait_s=settings.batch_max_wait_ms / 1000,
            max_in_flight=settings.inference_threads,
            on_idle=forget,
        )
        ctx.batchers[key] = batcher
    return batcher


async def load_model(ctx: InferenceContext, model_id: uuid.UUID, version: int) -> LoadedModel:
    """Read one version's artifact, check its digest and open it with its runtime."""
    async with ctx.db.session() as session:
        row = await ModelRepository(session).get_version(model_id, version)
    if row is None:
        raise version_not_found(model_id, version)
    data = await _read_artifact(ctx, row)
    features = [FeatureSpec.model_validate(item) for item in row.features]
    runner = await ctx.in_pool(
        _open_runner, row, features, data, ctx.settings.onnx_intra_op_threads
    )
    _log.info("model_loaded", model_id=str(model_id), version=version, bytes=len(data))
    return LoadedModel.opened(
        (model_id, version),
        row.task,  # type: ignore[arg-type]
        features,
        row.classes,
        runner,
        len(data),
    )


def _open_runner(
    row: ModelVersionRow, features: list[FeatureSpec], data: bytes, intra_op_threads: int
) -> ModelRunner:
    if row.format == "onnx":
        return onnx_runner(data, row.task, features, intra_op_threads)  # type: ignore[arg-type]
    if row.format == "torch-safetensors":
        return open_torch_runner(data, intra_op_threads)
    raise _artifact_unavailable(row, f"format {row.format!r} cannot be served")


async def _read_artifact(ctx: InferenceContext, row: ModelVersionRow) -> bytes:
    chunks: list[bytes] = []
    try:
        async for chunk in ctx.store.iter_bytes(row.artifact_key):
            chunks.append(chunk)
    except StoredFileMissing as exc:
        _log.error("model_artifact_missing", key=row.artifact_key)
        raise _artifact_unavailable(row, "its artifact is missing") from exc
    data = b"".join(chunks)
    if hashlib.sha256(data).hexdigest() != row.artifact_sha256:
        _log.error("model_artifact_corrupt", key=row.artifact_key)
        raise _artifact_unavailable(row, "its artifact does not match its digest")
    return data


def _artifact_unavailable(row: ModelVersionRow, reason: str) -> ApiError:
    return ApiError(
        500,
        "MODEL_ARTIFACT_UNAVAILABLE",
        f"model {row.model_id} version {row.version} cannot be loaded: {reason}",
        retry_allowed=False,
    )


def warm(ctx: InferenceContext, model_id: uuid.UUID, version: int) -> None:
    """Start loading a version in the background (after a promote) so no request waits for it."""
    ctx.cache.warm((model_id, version), lambda: load_model(ctx, model_id, version))
