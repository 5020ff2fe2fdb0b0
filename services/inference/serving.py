"""Predicting with a registered model: resolve the version, load it (cached), check rows, run."""

from __future__ import annotations

import hashlib
import uuid

from proto.inference import FeatureSpec, PredictRequest, PredictResponse
from services.inference.context import InferenceContext
from services.inference.model_cache import LoadedModel
from services.inference.onnx_artifacts import open_session, output_names
from services.inference.prediction import find_row_problems, run_model
from services.inference.registry import resolve_version, version_not_found
from services.inference.repository import ModelRepository
from services.inference.tables import ModelVersionRow
from services.kit.errors import ApiError, invalid_input, not_found
from services.kit.file_store import StoredFileMissing
from services.kit.structured_logging import get_logger

_PROBLEMS_IN_MESSAGE = 10

_log = get_logger(__name__)


async def predict(
    ctx: InferenceContext, owner_id: str, model_id: uuid.UUID, request: PredictRequest
) -> PredictResponse:
    """Predictions for the request's rows from the version it asks for."""
    async with ctx.db.session() as session:
        repo = ModelRepository(session)
        model = await repo.get_model(owner_id, model_id)
        if model is None:
            raise not_found("model", model_id)
        version = await resolve_version(repo, model, request.version, request.alias)
    loaded = await ctx.cache.get((model_id, version), lambda: load_model(ctx, model_id, version))
    problems = find_row_problems(request.rows, loaded.features, ctx.settings.max_string_value_chars)
    if problems:
        shown = "; ".join(p.describe() for p in problems[:_PROBLEMS_IN_MESSAGE])
        more = len(problems) - _PROBLEMS_IN_MESSAGE
        raise invalid_input(
            "INVALID_ROWS",
            f"rows do not match the model's features: {shown}"
            + (f" (and {more} more)" if more > 0 else ""),
            problems=[{"row": p.row, "feature": p.feature, "problem": p.problem} for p in problems],
        )
    predictions = await ctx.in_pool(run_model, loaded, request.rows)
    return PredictResponse(model_id=model_id, version=version, predictions=predictions)


async def load_model(ctx: InferenceContext, model_id: uuid.UUID, version: int) -> LoadedModel:
    """Read one version's artifact, check its digest and open an onnxruntime session on it."""
    async with ctx.db.session() as session:
        row = await ModelRepository(session).get_version(model_id, version)
    if row is None:
        raise version_not_found(model_id, version)
    data = await _read_artifact(ctx, row)
    session_ = await ctx.in_pool(open_session, data, ctx.settings.onnx_intra_op_threads)
    features = tuple(FeatureSpec.model_validate(item) for item in row.features)
    _log.info("model_loaded", model_id=str(model_id), version=version, bytes=len(data))
    return LoadedModel(
        model_id=model_id,
        version=version,
        task=row.task,  # type: ignore[arg-type]
        features=features,
        classes=tuple(row.classes) if row.classes is not None else None,
        session=session_,
        outputs=output_names(session_, row.task),  # type: ignore[arg-type]
    )


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
