"""The user's models and their predictions."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter

from bff.dependencies import Clients, CurrentUser
from bff.routes.pagination import PageParams
from proto.common import Page
from proto.inference import Model, PredictRequest, PredictResponse

router = APIRouter(prefix="/models", tags=["models"])


@router.get("", response_model=Page[Model])
async def list_models(page: PageParams, user: CurrentUser, clients: Clients) -> Page[Model]:
    """The user's models, a page at a time."""
    return await clients.inference.list_models(user.id, page.cursor, page.limit)


@router.get("/{model_id}", response_model=Model)
async def get_model(model_id: UUID, user: CurrentUser, clients: Clients) -> Model:
    """One of the user's models."""
    return await clients.inference.get_model(user.id, model_id)


@router.post("/{model_id}/predict", response_model=PredictResponse)
async def predict(
    model_id: UUID, body: PredictRequest, user: CurrentUser, clients: Clients
) -> PredictResponse:
    """Predictions of a model for a few rows."""
    return await clients.inference.predict(user.id, model_id, body)
