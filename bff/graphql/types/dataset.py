"""A dataset of the viewer, its versions, labels and stats."""

from __future__ import annotations

from datetime import datetime
from operator import itemgetter
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

import strawberry
from strawberry.types import Info

from bff.graphql.context import Context
from bff.graphql.types.column import Column
from bff.graphql.types.described import described
from bff.graphql.types.json_backed import JsonBacked
from bff.graphql.types.json_values import catalog_entry_readers
from bff.graphql.types.label import Label
from bff.graphql.types.node import Node
from bff.graphql.types.page import Page, page_from, page_size
from bff.graphql.types.version_stats import VersionStats
from services.kit.errors import not_found

if TYPE_CHECKING:
    from bff.graphql.types.dataset_version import DatasetVersion

_DatasetVersion = Annotated["DatasetVersion", strawberry.lazy("bff.graphql.types.dataset_version")]


@strawberry.type(
    description="A dataset of the viewer. `id` is its uuid (as REST routes and mutations "
    "take it); `globalId` the Relay id for `node(id:)`."
)
class Dataset(Node, JsonBacked):
    id: strawberry.ID
    name: str
    latest_version: int
    row_count: int
    column_json: strawberry.Private[list[dict[str, Any]]]

    @strawberry.field
    def columns(self) -> list[Column]:
        # Converted when selected: a list of datasets rarely asks for its columns.
        return [Column.from_json(column) for column in self.column_json]

    created_at: datetime
    updated_at: datetime

    readers = {
        **catalog_entry_readers("Dataset"),
        "row_count": itemgetter("row_count"),
        "column_json": itemgetter("columns"),
    }

    @classmethod
    def from_json(cls, dataset: dict[str, Any]) -> Dataset:
        """From a `Dataset` as the datasets service answers it (read when selected)."""
        return cls.backed_by(dataset)

    @described("The dataset's versions, newest first.")
    async def versions(
        self, info: Info[Context, None], first: int | None = None, after: str | None = None
    ) -> Page[_DatasetVersion]:
        from bff.graphql.types.dataset_version import DatasetVersion

        n = page_size(first, after)
        user_id = info.context.require_user().id
        datasets = info.context.clients.datasets
        page = await datasets.list_versions(user_id, UUID(self.id), after, n)
        return page_from(page.items, page.next_cursor, DatasetVersion.from_model)

    @described("Labels of a version (the latest by default), by row id.")
    async def labels(
        self,
        info: Info[Context, None],
        version: int | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Page[Label]:
        n = page_size(first, after)
        user_id = info.context.require_user().id
        datasets = info.context.clients.datasets
        number = self.latest_version if version is None else version
        page = await datasets.list_labels(user_id, UUID(self.id), number, after, n)
        return page_from(page.items, page.next_cursor, Label.from_model)

    @described("Per-column statistics of a version (the latest by default).")
    async def stats(self, info: Info[Context, None], version: int | None = None) -> VersionStats:
        user_id = info.context.require_user().id
        number = self.latest_version if version is None else version
        stats = await info.context.clients.datasets.get_stats(user_id, UUID(self.id), number)
        return VersionStats.from_model(stats)


async def load_dataset(info: Info[Context, None], dataset_id: str) -> Dataset:
    """One of the viewer's datasets through the request's loader; DATASET_NOT_FOUND if not
    theirs."""
    found = await info.context.loaders.datasets.load(dataset_id)
    if found is None:
        raise not_found("dataset", dataset_id)
    return Dataset.from_json(found)
