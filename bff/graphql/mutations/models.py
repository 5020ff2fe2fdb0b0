"""Mutations of the viewer's models: aliases (promote, roll back) and predictions.

Uploading an ONNX file stays REST (`POST /api/v1/models/uploads`): it is binary."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

import strawberry
from pydantic import BaseModel, Field
from strawberry.scalars import JSON
from strawberry.types import Info

from bff.graphql.context import Context
from bff.graphql.mutations.user_errors import attempt, contract, input_values
from bff.graphql.types.model import Model
from bff.graphql.types.prediction import Predictions
from bff.graphql.types.user_error import UserError
from proto.common import Ordinal
from proto.inference import ALIAS_PATTERN, PredictRequest
from proto.inference import Model as ModelContract


@strawberry.input
class SetModelAliasInput:
    """Point `alias` (such as `production`) at a version: promote, or roll back."""

    model_id: strawberry.ID
    alias: str
    version: int


@strawberry.input
class DeleteModelAliasInput:
    model_id: strawberry.ID
    alias: str


@strawberry.type
class ModelPayload:
    """The model as it is after the mutation, with its aliases."""

    model: Model | None
    user_errors: list[UserError]


@strawberry.input
class PredictInput:
    """Rows of feature values; `version` or `alias` (by default `production`, else the
    latest version)."""

    model_id: strawberry.ID
    rows: list[JSON]
    version: int | None = strawberry.UNSET
    alias: str | None = strawberry.UNSET


@strawberry.type
class PredictPayload:
    result: Predictions | None
    user_errors: list[UserError]


class _AliasTarget(BaseModel):
    model_id: UUID
    alias: Annotated[str, Field(pattern=ALIAS_PATTERN)]


class _AliasUpdate(_AliasTarget):
    version: Ordinal


class _ModelTarget(BaseModel):
    model_id: UUID


_FIELDS = {
    "MODEL_NOT_FOUND": ["model_id"],
    "MODEL_VERSION_NOT_FOUND": ["version"],
    "MODEL_ALIAS_NOT_FOUND": ["alias"],
}


@strawberry.type
class ModelMutations:
    @strawberry.mutation
    async def set_model_alias(
        self, info: Info[Context, None], input: SetModelAliasInput
    ) -> ModelPayload:
        """Point an alias at a version of one of the viewer's models."""
        user = info.context.require_user()
        inference = info.context.clients.inference

        async def set_alias() -> ModelContract:
            update = contract(_AliasUpdate, input_values(input))
            return await inference.set_alias(
                str(user.id), update.model_id, update.alias, update.version
            )

        return _model_payload(await attempt(set_alias, _FIELDS))

    @strawberry.mutation
    async def delete_model_alias(
        self, info: Info[Context, None], input: DeleteModelAliasInput
    ) -> ModelPayload:
        """Remove an alias of one of the viewer's models."""
        user = info.context.require_user()
        inference = info.context.clients.inference

        async def delete_alias() -> ModelContract:
            target = contract(_AliasTarget, input_values(input))
            await inference.delete_alias(str(user.id), target.model_id, target.alias)
            return await inference.get_model(str(user.id), target.model_id)

        return _model_payload(await attempt(delete_alias, _FIELDS))

    @strawberry.mutation
    async def predict(self, info: Info[Context, None], input: PredictInput) -> PredictPayload:
        """Predictions of one of the viewer's models for a few rows."""
        user = info.context.require_user()
        inference = info.context.clients.inference
        values = input_values(input)

        async def predict() -> Predictions:
            target = contract(_ModelTarget, values)
            request = contract(PredictRequest, {k: v for k, v in values.items() if k != "model_id"})
            return Predictions.from_model(
                await inference.predict(str(user.id), target.model_id, request)
            )

        result = await attempt(predict, _FIELDS)
        if isinstance(result, list):
            return PredictPayload(result=None, user_errors=result)
        return PredictPayload(result=result, user_errors=[])


def _model_payload(result: ModelContract | list[UserError]) -> ModelPayload:
    if isinstance(result, list):
        return ModelPayload(model=None, user_errors=result)
    return ModelPayload(model=Model.from_json(result.model_dump(mode="json")), user_errors=[])
