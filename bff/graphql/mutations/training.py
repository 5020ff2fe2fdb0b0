"""Mutations of the viewer's training jobs: start one, cancel one."""

from __future__ import annotations

from uuid import UUID

import strawberry
from pydantic import BaseModel
from strawberry.scalars import JSON
from strawberry.types import Info

from bff.graphql.context import Context
from bff.graphql.mutations.user_errors import attempt, contract, input_values
from bff.graphql.types.training_job import TrainingJob
from bff.graphql.types.user_error import UserError
from proto.training import TrainingJobCreate


@strawberry.input
class CreateTrainingJobInput:
    """What to train on (a dataset, by default its latest version) and how; fields left out
    take the same defaults as `POST /api/v1/training-jobs`."""

    dataset_id: strawberry.ID
    target: str
    dataset_version: int | None = strawberry.UNSET
    features: list[str] | None = strawberry.UNSET
    task: str | None = strawberry.UNSET
    model: str | None = strawberry.UNSET
    model_name: str | None = strawberry.UNSET
    hyperparameters: JSON | None = strawberry.UNSET
    validation_split: float | None = strawberry.UNSET
    seed: int | None = strawberry.UNSET


@strawberry.input
class CancelTrainingJobInput:
    id: strawberry.ID


@strawberry.type
class TrainingJobPayload:
    """The job as it is after the mutation."""

    training_job: TrainingJob | None
    user_errors: list[UserError]


class _JobTarget(BaseModel):
    id: UUID


_FIELDS = {"DATASET_NOT_FOUND": ["dataset_id"], "JOB_NOT_FOUND": ["id"]}


@strawberry.type
class TrainingMutations:
    @strawberry.mutation
    async def create_training_job(
        self, info: Info[Context, None], input: CreateTrainingJobInput
    ) -> TrainingJobPayload:
        """Start training a model on one of the viewer's datasets."""
        user = info.context.require_user()
        training = info.context.clients.training

        async def create() -> TrainingJob:
            job = contract(TrainingJobCreate, input_values(input))
            created = await training.create_job(str(user.id), job)
            return TrainingJob.from_json(created.model_dump(mode="json"))

        return _payload(await attempt(create, _FIELDS))

    @strawberry.mutation
    async def cancel_training_job(
        self, info: Info[Context, None], input: CancelTrainingJobInput
    ) -> TrainingJobPayload:
        """Cancel a queued or running job (JOB_FINISHED for one that is over)."""
        user = info.context.require_user()
        training = info.context.clients.training

        async def cancel() -> TrainingJob:
            target = contract(_JobTarget, input_values(input))
            cancelled = await training.cancel_job(str(user.id), target.id)
            return TrainingJob.from_json(cancelled.model_dump(mode="json"))

        return _payload(await attempt(cancel, _FIELDS))


def _payload(result: TrainingJob | list[UserError]) -> TrainingJobPayload:
    if isinstance(result, list):
        return TrainingJobPayload(training_job=None, user_errors=result)
    return TrainingJobPayload(training_job=result, user_errors=[])
