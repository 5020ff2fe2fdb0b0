"""One immutable version of a dataset."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

import strawberry
from strawberry.types import Info

from bff.graphql.context import Context
from bff.graphql.types.column import Column
from bff.graphql.types.described import described
from bff.graphql.types.label import Label
from bff.graphql.types.node import Node, to_global_id
from bff.graphql.types.page import Page, page_from, page_size
from bff.graphql.types.version_stats import VersionStats
from proto.datasets import DatasetVersion as DatasetVersionContract
from services.kit.errors import not_found

if TYPE_CHECKING:
    from bff.graphql.types.dataset import Dataset

_Dataset = Annotated["Dataset", strawberry.lazy("bff.graphql.types.dataset")]


def version_global_id(dataset_id: object, version: int) -> strawberry.ID:
    return to_global_id("DatasetVersion", f"{dataset_id}:{version}")


@strawberry.type(description="A version of a dataset: `datasetId` and `version` name it.")
class DatasetVersion(Node):
    dataset_id: strawberry.ID = strawberry.field(description="The dataset's uuid.")
    version: int
    format: str
    row_count: int
    size_bytes: int
    sha256: str
    column_json: strawberry.Private[list[dict[str, Any]]]

    @strawberry.field
    def columns(self) -> list[Column]:
        # Converted when selected: a list of versions rarely asks for their columns.
        return [Column.from_json(column) for column in self.column_json]

    created_at: datetime
    source_encoding: str | None

    @classmethod
    def from_model(cls, version: DatasetVersionContract) -> DatasetVersion:
        """From a `DatasetVersion` as the datasets service answers it."""
        return cls.from_json(version.model_dump(mode="json"))

    @classmethod
    def from_json(cls, version: dict[str, Any]) -> DatasetVersion:
        dataset_id = str(version["dataset_id"])
        return cls(
            global_id=version_global_id(dataset_id, version["version"]),
            dataset_id=strawberry.ID(dataset_id),
            version=version["version"],
            format=version["format"],
            row_count=version["row_count"],
            size_bytes=version["size_bytes"],
            sha256=version["sha256"],
            column_json=version["columns"],
            created_at=datetime.fromisoformat(version["created_at"]),
            source_encoding=version.get("source_encoding"),
        )

    @described("The dataset it is a version of.", loaded=1)
    async def dataset(self, info: Info[Context, None]) -> _Dataset | None:
        from bff.graphql.types.dataset import load_dataset

        return await load_dataset(info, self.dataset_id)

    @described("Labels of this version, by row id.")
    async def labels(
        self, info: Info[Context, None], first: int | None = None, after: str | None = None
    ) -> Page[Label]:
        n = page_size(first, after)
        user_id = info.context.require_user().id
        datasets = info.context.clients.datasets
        page = await datasets.list_labels(user_id, UUID(self.dataset_id), self.version, after, n)
        return page_from(page.items, page.next_cursor, Label.from_model)

    @described("Per-column statistics of this version.")
    async def stats(self, info: Info[Context, None]) -> VersionStats:
        user_id = info.context.require_user().id
        datasets = info.context.clients.datasets
        stats = await datasets.get_stats(user_id, UUID(self.dataset_id), self.version)
        return VersionStats.from_model(stats)


async def load_dataset_version(
    info: Info[Context, None], dataset_id: str, version: int
) -> DatasetVersion:
    """One version of the viewer's dataset through the request's loader;
    DATASET_VERSION_NOT_FOUND if there is none (or the dataset is not theirs)."""
    found = await info.context.loaders.dataset_versions.load((dataset_id, version))
    if found is None:
        raise not_found("dataset_version", f"{dataset_id} v{version}")
    return DatasetVersion.from_json(found)
