"""Internal REST routes of the inference service: parse, authorize, call the domain."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, File, Form, Path, Response, UploadFile
from pydantic import ValidationError

from proto.common import INTERNAL_PREFIX, Batch, BatchRead, Page
from proto.inference import (
    ALIAS_PATTERN,
    AliasUpdate,
    Model,
    ModelVersion,
    ModelVersionBatchRead,
    ModelVersionRegister,
    PredictRequest,
    PredictResponse,
)
from services.inference import registry, serving
from services.inference.context import InferenceContext
from services.kit.dependencies import INTERNAL_DEPENDENCIES, ActingUser, context_dependency
from services.kit.errors import validation_failed
from services.kit.paging import CursorParam, LimitParam
from services.kit.params import VersionPath
from services.kit.responses import json_response
from services.kit.routing import PrefixedRouter

_UPLOAD_CHUNK = 1024 * 1024


Context = Annotated[InferenceContext, Depends(context_dependency(InferenceContext))]
AliasName = Annotated[str, Path(min_length=1, max_length=64, pattern=ALIAS_PATTERN)]

internal_router = PrefixedRouter(prefix=INTERNAL_PREFIX, dependencies=INTERNAL_DEPENDENCIES)


# The route called most comes first: FastAPI tries a router's routes in order, a few
# microseconds each (bench_inference: matching was a sixth of a prediction's CPU).
@internal_router.post("/models/{model_id}/predict", response_model=PredictResponse)
async def predict(
    ctx: Context, user: ActingUser, model_id: uuid.UUID, body: PredictRequest
) -> PredictResponse:
    """Predictions from a version of the model (explicit, alias, production, else latest)."""
    return await serving.predict(ctx, user, model_id, body)


@internal_router.post("/models/versions", status_code=201, response_model=ModelVersion)
async def register_model_version(
    ctx: Context,
    user: ActingUser,
    metadata: Annotated[str, Form(description="JSON of ModelVersionRegister")],
    artifact: Annotated[UploadFile, File(description="the model file")],
) -> ModelVersion:
    """Register a new version of the acting user's model (a new model at version 1)."""
    register = _parse_metadata(metadata)
    limit = ctx.settings.max_artifact_bytes
    if artifact.size is not None and artifact.size > limit:
        raise registry.artifact_too_large(limit)
    return await registry.register_version(ctx, user, register, _chunks(artifact))


def _parse_metadata(raw: str) -> ModelVersionRegister:
    try:
        return ModelVersionRegister.model_validate_json(raw)
    except ValidationError as exc:
        raise validation_failed(exc.errors(), "metadata", "metadata") from exc


async def _chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(_UPLOAD_CHUNK):
        yield chunk


@internal_router.get("/models", response_model=Page[Model])
async def list_models(
    ctx: Context,
    user: ActingUser,
    cursor: CursorParam = None,
    limit: LimitParam = None,
) -> Response:
    """The acting user's models, newest first."""
    return json_response(await registry.list_models(ctx, user, cursor, limit))


@internal_router.post("/models/batch", response_model=Batch[Model])
async def read_models(ctx: Context, user: ActingUser, body: BatchRead) -> Response:
    """Several of the acting user's models at once (at most 100 ids); others' are left out."""
    return json_response(await registry.read_models(ctx, user, body.ids))


@internal_router.post("/models/versions/batch", response_model=Batch[ModelVersion])
async def read_model_versions(
    ctx: Context, user: ActingUser, body: ModelVersionBatchRead
) -> Batch[ModelVersion]:
    """Several versions of the acting user's models at once (at most 100); others' are left
    out."""
    return await registry.read_versions(ctx, user, body.keys)


@internal_router.get("/models/{model_id}", response_model=Model)
async def get_model(ctx: Context, user: ActingUser, model_id: uuid.UUID) -> Model:
    """One model with its aliases."""
    return await registry.get_model(ctx, user, model_id)


@internal_router.get("/models/{model_id}/versions", response_model=Page[ModelVersion])
async def list_model_versions(
    ctx: Context,
    user: ActingUser,
    model_id: uuid.UUID,
    cursor: CursorParam = None,
    limit: LimitParam = None,
) -> Page[ModelVersion]:
    """The model's versions, newest first."""
    return await registry.list_versions(ctx, user, model_id, cursor, limit)


@internal_router.put("/models/{model_id}/aliases/{alias}", response_model=Model)
async def set_model_alias(
    ctx: Context, user: ActingUser, model_id: uuid.UUID, alias: AliasName, body: AliasUpdate
) -> Model:
    """Point an alias at a version (promote, roll back); the new version loads at once."""
    model = await registry.set_alias(ctx, user, model_id, alias, body.version)
    serving.warm(ctx, model_id, body.version)
    return model


@internal_router.delete("/models/{model_id}/aliases/{alias}", status_code=204)
async def delete_model_alias(
    ctx: Context, user: ActingUser, model_id: uuid.UUID, alias: AliasName
) -> Response:
    """Remove an alias."""
    await registry.delete_alias(ctx, user, model_id, alias)
    return Response(status_code=204)


@internal_router.get("/models/{model_id}/versions/{version}", response_model=ModelVersion)
async def get_model_version(
    ctx: Context, user: ActingUser, model_id: uuid.UUID, version: VersionPath
) -> ModelVersion:
    """One version of a model."""
    return await registry.get_version(ctx, user, model_id, version)
