"""Client of the inference service: models, versions, aliases and predictions, for one user."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from bff.clients.reads import DownstreamPage, get_one, get_page, get_typed_page, read_batch
from proto.common import INTERNAL_PREFIX, Page
from proto.inference import (
    AliasUpdate,
    Model,
    ModelVersion,
    ModelVersionRegister,
    PredictRequest,
    PredictResponse,
)
from services.kit.http_client import ServiceClient

_PREFIX = INTERNAL_PREFIX
# Registration checks the whole artifact (loads it, runs a row) before it answers.
_REGISTER_TIMEOUT_S = 60.0


class InferenceClient:
    """Typed calls to the inference service."""

    def __init__(self, http: ServiceClient) -> None:
        self._http = http

    async def list_models(
        self, user_id: str, cursor: str | None = None, limit: int | None = None
    ) -> DownstreamPage:
        """One page of the user's models (`Page[Model]`)."""
        return await get_page(self._http, f"{_PREFIX}/models", user_id, cursor, limit)

    async def get_model(self, user_id: str, model_id: UUID) -> Model:
        """One of the user's models."""
        return await get_one(self._http, Model, f"{_PREFIX}/models/{model_id}", user_id)

    async def read_models(self, user_id: str, ids: Sequence[str]) -> list[dict[str, Any]]:
        """Those of these models (at most 100 ids) that are the user's, as JSON `Model`s."""
        return await read_batch(self._http, f"{_PREFIX}/models/batch", user_id, {"ids": ids})

    async def read_versions(
        self, user_id: str, keys: Sequence[tuple[str, int]]
    ) -> list[dict[str, Any]]:
        """Those of these (model, version) pairs (at most 100) that are the user's, as JSON
        `ModelVersion`s."""
        body = {"keys": [{"model_id": model, "version": n} for model, n in keys]}
        return await read_batch(self._http, f"{_PREFIX}/models/versions/batch", user_id, body)

    async def list_versions(
        self, user_id: str, model_id: UUID, cursor: str | None = None, limit: int | None = None
    ) -> Page[ModelVersion]:
        """One page of a model's versions, newest first."""
        path = f"{_PREFIX}/models/{model_id}/versions"
        return await get_typed_page(self._http, Page[ModelVersion], path, user_id, cursor, limit)

    async def get_version(self, user_id: str, model_id: UUID, version: int) -> ModelVersion:
        """One version of one of the user's models."""
        return await get_one(
            self._http, ModelVersion, f"{_PREFIX}/models/{model_id}/versions/{version}", user_id
        )

    async def set_alias(self, user_id: str, model_id: UUID, alias: str, version: int) -> Model:
        """Point an alias at a version (promote, roll back); idempotent, so retried."""
        data = await self._http.request(
            "PUT",
            f"{_PREFIX}/models/{model_id}/aliases/{alias}",
            user_id=user_id,
            json=AliasUpdate(version=version),
        )
        return Model.model_validate(data.json())

    async def delete_alias(self, user_id: str, model_id: UUID, alias: str) -> None:
        """Remove an alias."""
        await self._http.request(
            "DELETE", f"{_PREFIX}/models/{model_id}/aliases/{alias}", user_id=user_id
        )

    async def register_version(
        self, user_id: str, metadata: ModelVersionRegister, artifact: bytes, filename: str
    ) -> ModelVersion:
        """Register a model file as a new version of the user's model (not retried)."""
        response = await self._http.request(
            "POST",
            f"{_PREFIX}/models/versions",
            user_id=user_id,
            files={
                "metadata": (None, metadata.model_dump_json(), "application/json"),
                "artifact": (filename, artifact, "application/octet-stream"),
            },
            idempotent=False,
            timeout_s=_REGISTER_TIMEOUT_S,
        )
        return ModelVersion.model_validate(response.json())

    async def predict(
        self, user_id: str, model_id: UUID, request: PredictRequest
    ) -> PredictResponse:
        """Predictions of one model for a few rows (pure, so safe to retry)."""
        data = await self._http.post_json(
            f"{_PREFIX}/models/{model_id}/predict",
            user_id=user_id,
            json=request,
            idempotent=True,
        )
        return PredictResponse.model_validate(data)
