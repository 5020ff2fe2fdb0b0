"""Mutations of the viewer's datasets: uploads (announce, complete; chunks stay REST, they are
binary), delete, and labels made offline."""

from __future__ import annotations

from uuid import UUID

import strawberry
from pydantic import BaseModel
from strawberry.types import Info

from bff.graphql.context import Context
from bff.graphql.mutations.user_errors import attempt, contract, field_path, input_values
from bff.graphql.types.dataset import Dataset
from bff.graphql.types.label import Label, LabelConflict
from bff.graphql.types.upload import Upload
from bff.graphql.types.user_error import UserError
from proto.common import Ordinal
from proto.datasets import LabelBatch, UploadCreate


@strawberry.input
class CreateUploadInput:
    """A file to upload: its name, size and SHA-256; `datasetId` adds a version to that dataset."""

    filename: str
    size: int
    sha256: str
    content_type: str | None = strawberry.UNSET
    dataset_id: strawberry.ID | None = strawberry.UNSET
    name: str | None = strawberry.UNSET


@strawberry.type
class CreateUploadPayload:
    upload: Upload | None
    user_errors: list[UserError]


@strawberry.input
class CompleteUploadInput:
    upload_id: strawberry.ID


@strawberry.type
class CompleteUploadPayload:
    """The dataset the upload became a version of, and that version's number."""

    dataset: Dataset | None
    version: int | None
    user_errors: list[UserError]


@strawberry.input
class DeleteDatasetInput:
    dataset_id: strawberry.ID


@strawberry.type
class DeleteDatasetPayload:
    deleted_dataset_id: strawberry.ID | None
    user_errors: list[UserError]


@strawberry.input
class LabelWriteInput:
    """One label to set (`label: null` clears it); `baseRevision` is the revision last seen."""

    row_id: int
    label: str | None
    note: str | None = strawberry.UNSET
    base_revision: int = 0


@strawberry.input
class SetLabelsInput:
    dataset_id: strawberry.ID
    version: int
    labels: list[LabelWriteInput]


@strawberry.type
class SetLabelsPayload:
    """The labels written, and those not written because the server holds another revision
    (each also a LABEL_CONFLICT user error at its place in `input.labels`)."""

    applied: list[Label]
    conflicts: list[LabelConflict]
    user_errors: list[UserError]


class _UploadTarget(BaseModel):
    upload_id: UUID


class _DatasetTarget(BaseModel):
    dataset_id: UUID


class _VersionTarget(BaseModel):
    dataset_id: UUID
    version: Ordinal


_NOT_FOUND_FIELDS = {
    "DATASET_NOT_FOUND": ["dataset_id"],
    "DATASET_VERSION_NOT_FOUND": ["version"],
}


@strawberry.type
class DatasetMutations:
    @strawberry.mutation
    async def create_upload(
        self, info: Info[Context, None], input: CreateUploadInput
    ) -> CreateUploadPayload:
        """Announce a file; the answer says the chunk size. Send the chunks over REST."""
        user = info.context.require_user()
        datasets = info.context.clients.datasets

        async def create() -> Upload:
            upload = contract(UploadCreate, input_values(input))
            return Upload.from_model(await datasets.create_upload(str(user.id), upload))

        result = await attempt(create)
        if isinstance(result, list):
            return CreateUploadPayload(upload=None, user_errors=result)
        return CreateUploadPayload(upload=result, user_errors=[])

    @strawberry.mutation
    async def complete_upload(
        self, info: Info[Context, None], input: CompleteUploadInput
    ) -> CompleteUploadPayload:
        """Assemble the chunks into a new dataset version."""
        user = info.context.require_user()
        datasets = info.context.clients.datasets

        async def complete() -> tuple[Dataset, int]:
            target = contract(_UploadTarget, input_values(input))
            version = await datasets.complete_upload(str(user.id), target.upload_id)
            dataset = await datasets.get_dataset(str(user.id), version.dataset_id)
            return Dataset.from_json(dataset.model_dump(mode="json")), version.version

        result = await attempt(complete)
        if isinstance(result, list):
            return CompleteUploadPayload(dataset=None, version=None, user_errors=result)
        dataset, version = result
        return CompleteUploadPayload(dataset=dataset, version=version, user_errors=[])

    @strawberry.mutation
    async def delete_dataset(
        self, info: Info[Context, None], input: DeleteDatasetInput
    ) -> DeleteDatasetPayload:
        """Delete a dataset (its tombstone reaches the viewer's other devices)."""
        user = info.context.require_user()
        datasets = info.context.clients.datasets

        async def delete() -> strawberry.ID:
            target = contract(_DatasetTarget, input_values(input))
            await datasets.delete_dataset(str(user.id), target.dataset_id)
            return input.dataset_id

        result = await attempt(delete, _NOT_FOUND_FIELDS)
        if isinstance(result, list):
            return DeleteDatasetPayload(deleted_dataset_id=None, user_errors=result)
        return DeleteDatasetPayload(deleted_dataset_id=result, user_errors=[])

    @strawberry.mutation
    async def set_labels(
        self, info: Info[Context, None], input: SetLabelsInput
    ) -> SetLabelsPayload:
        """Set labels made offline; a stale one is not written and comes back as a conflict
        with the server's label."""
        user = info.context.require_user()
        datasets = info.context.clients.datasets
        values = input_values(input)

        async def write() -> SetLabelsPayload:
            target = contract(_VersionTarget, values)
            batch = contract(LabelBatch, {"labels": values["labels"]})
            result = await datasets.upsert_labels(
                str(user.id), target.dataset_id, target.version, batch
            )
            rows = [label.row_id for label in batch.labels]
            return SetLabelsPayload(
                applied=[Label.from_model(label) for label in result.applied],
                conflicts=[LabelConflict.from_model(item) for item in result.conflicts],
                user_errors=[
                    UserError(
                        code=conflict.code,
                        message=f"row {conflict.row_id} changed since revision "
                        f"{conflict.base_revision}",
                        field=field_path(["labels", str(rows.index(conflict.row_id))]),
                    )
                    for conflict in result.conflicts
                ],
            )

        result = await attempt(write, _NOT_FOUND_FIELDS)
        if isinstance(result, list):
            return SetLabelsPayload(applied=[], conflicts=[], user_errors=result)
        return result
