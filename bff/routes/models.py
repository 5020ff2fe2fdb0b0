"""The user's models: list, versions, aliases (promote / roll back), ONNX upload, predictions."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import File, Form, Path, Response, UploadFile
from pydantic import ValidationError

from bff.compact.representation import Represented
from bff.dependencies import BffDep, Clients, CurrentUser
from bff.routes.pagination import PageParams
from proto.common import Page
from proto.inference import (
    ALIAS_PATTERN,
    AliasUpdate,
    Model,
    ModelUpload,
    ModelVersion,
    PredictRequest,
    PredictResponse,
)
from services.kit.errors import ApiError, validation_failed
from services.kit.params import VersionPath
from services.kit.routing import PrefixedRouter

router = PrefixedRouter(prefix="/models", tags=["models"])

MODEL_UPLOADS_PATH = "/api/v1/models/uploads"
"""Path of the upload route, for its own body-size limit."""

_READ_CHUNK = 1024 * 1024
_MAX_FILENAME = 200

AliasName = Annotated[str, Path(min_length=1, max_length=64, pattern=ALIAS_PATTERN)]


@router.get("", response_model=Page[Model])
async def list_models(page: PageParams, user: CurrentUser, clients: Clients) -> Represented:
    """The user's models, a page at a time."""
    listed = await clients.inference.list_models(user.id, page.cursor, page.limit)
    return Represented(listed.as_json())


@router.post("/uploads", status_code=201, response_model=ModelVersion)
async def upload_model(
    bff: BffDep,
    user: CurrentUser,
    clients: Clients,
    metadata: Annotated[str, Form(description="JSON of ModelUpload", max_length=1_000_000)],
    artifact: Annotated[UploadFile, File(description="the ONNX model file")],
) -> ModelVersion:
    """Upload an ONNX model as a new version of the user's model of that name."""
    upload = _parse_upload(metadata)
    data = await _read_limited(artifact, bff.settings.model_upload_max_bytes)
    filename = (artifact.filename or "model.onnx")[:_MAX_FILENAME]
    return await clients.inference.register_version(user.id, upload.to_register(), data, filename)


@router.get("/{model_id}", response_model=Model)
async def get_model(model_id: UUID, user: CurrentUser, clients: Clients) -> Model:
    """One of the user's models."""
    return await clients.inference.get_model(user.id, model_id)


@router.get("/{model_id}/versions", response_model=Page[ModelVersion])
async def list_versions(
    model_id: UUID, page: PageParams, user: CurrentUser, clients: Clients
) -> Page[ModelVersion]:
    """A model's versions, newest first, a page at a time."""
    return await clients.inference.list_versions(user.id, model_id, page.cursor, page.limit)


@router.get("/{model_id}/versions/{version}", response_model=ModelVersion)
async def get_version(
    model_id: UUID,
    version: VersionPath,
    user: CurrentUser,
    clients: Clients,
) -> ModelVersion:
    """One version of a model: features, classes, metrics, training job."""
    return await clients.inference.get_version(user.id, model_id, version)


@router.put("/{model_id}/aliases/{alias}", response_model=Model)
async def set_alias(
    model_id: UUID, alias: AliasName, body: AliasUpdate, user: CurrentUser, clients: Clients
) -> Model:
    """Point an alias at a version: promote, or roll back by pointing it at an older one."""
    return await clients.inference.set_alias(user.id, model_id, alias, body.version)


@router.delete("/{model_id}/aliases/{alias}", status_code=204)
async def delete_alias(
    model_id: UUID, alias: AliasName, user: CurrentUser, clients: Clients
) -> Response:
    """Remove an alias."""
    await clients.inference.delete_alias(user.id, model_id, alias)
    return Response(status_code=204)


@router.post("/{model_id}/predict", response_model=PredictResponse)
async def predict(
    model_id: UUID, body: PredictRequest, user: CurrentUser, clients: Clients
) -> PredictResponse:
    """Predictions of a model for a few rows."""
    return await clients.inference.predict(user.id, model_id, body)


def _parse_upload(raw: str) -> ModelUpload:
    try:
        return ModelUpload.model_validate_json(raw)
    except ValidationError as exc:
        raise validation_failed(exc.errors(), "metadata", "metadata") from exc


async def _read_limited(upload: UploadFile, limit: int) -> bytes:
    buffer = bytearray()
    while chunk := await upload.read(_READ_CHUNK):
        buffer += chunk
        if len(buffer) > limit:
            raise ApiError(
                413,
                "ARTIFACT_TOO_LARGE",
                f"the model file is larger than {limit} bytes",
                details={"max_bytes": limit},
            )
    return bytes(buffer)
