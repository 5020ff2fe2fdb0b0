"""Client of the inference service: models and predictions, acting for one user."""

from __future__ import annotations

from uuid import UUID

from bff.clients.paging import page_params
from proto.common import Page
from proto.inference import Model, PredictRequest, PredictResponse
from services.kit.http_client import ServiceClient

_PREFIX = "/internal/v1"


class InferenceClient:
    """Typed calls to the inference service."""

    def __init__(self, http: ServiceClient) -> None:
        self._http = http

    async def list_models(
        self, user_id: str, cursor: str | None = None, limit: int | None = None
    ) -> Page[Model]:
        """One page of the user's models."""
        data = await self._http.get_json(
            f"{_PREFIX}/models", user_id=user_id, params=page_params(cursor, limit)
        )
        return Page[Model].model_validate(data)

    async def get_model(self, user_id: str, model_id: UUID) -> Model:
        """One of the user's models."""
        data = await self._http.get_json(f"{_PREFIX}/models/{model_id}", user_id=user_id)
        return Model.model_validate(data)

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
