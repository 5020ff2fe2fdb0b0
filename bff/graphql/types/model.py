"""A trained model of the viewer, its versions, aliases and the job that trained it."""

from __future__ import annotations

from datetime import datetime
from operator import itemgetter
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from bff.graphql.context import Context
from bff.graphql.types.described import described
from bff.graphql.types.feature import Feature
from bff.graphql.types.json_backed import JsonBacked
from bff.graphql.types.json_values import catalog_entry_readers
from bff.graphql.types.model_alias import ModelAlias
from bff.graphql.types.node import Node
from bff.graphql.types.page import Page, page_from, page_size
from services.kit.errors import not_found

if TYPE_CHECKING:
    from bff.graphql.types.model_version import ModelVersion
    from bff.graphql.types.training_job import TrainingJob

_ModelVersion = Annotated["ModelVersion", strawberry.lazy("bff.graphql.types.model_version")]
_TrainingJob = Annotated["TrainingJob", strawberry.lazy("bff.graphql.types.training_job")]


@strawberry.type(
    description="A model of the viewer. `id` is its uuid (as REST routes and mutations "
    "take it); `globalId` the Relay id for `node(id:)`. `aliases` maps alias -> version as JSON; "
    "`aliasList` is the same, typed, each with its version."
)
class Model(Node, JsonBacked):
    id: strawberry.ID
    name: str
    task: str
    latest_version: int
    aliases: JSON
    feature_json: strawberry.Private[list[dict[str, Any]]]

    @strawberry.field
    def features(self) -> list[Feature]:
        # Converted when selected: a list of models rarely asks for its features.
        return [Feature.from_json(feature) for feature in self.feature_json]

    created_at: datetime
    updated_at: datetime
    alias_versions: strawberry.Private[dict[str, int]]

    readers = {
        **catalog_entry_readers("Model"),
        "task": itemgetter("task"),
        "aliases": itemgetter("aliases"),
        "feature_json": itemgetter("features"),
        "alias_versions": lambda model: dict(model["aliases"]),
    }

    @classmethod
    def from_json(cls, model: dict[str, Any]) -> Model:
        """From a `Model` as the inference service answers it (read when selected)."""
        return cls.backed_by(model)

    @described("The model's aliases (production, staging, ...), by name.")
    def alias_list(self) -> list[ModelAlias]:
        return [
            ModelAlias(name=name, version=version, model_id=self.id)
            for name, version in sorted(self.alias_versions.items())
        ]

    @described("The model's versions, newest first.")
    async def versions(
        self, info: Info[Context, None], first: int | None = None, after: str | None = None
    ) -> Page[_ModelVersion]:
        from bff.graphql.types.model_version import ModelVersion

        n = page_size(first, after)
        user_id = info.context.require_user().id
        inference = info.context.clients.inference
        page = await inference.list_versions(user_id, UUID(self.id), after, n)
        return page_from(page.items, page.next_cursor, ModelVersion.from_model)

    @described("The newest version.", loaded=1)
    async def latest(self, info: Info[Context, None]) -> _ModelVersion | None:
        from bff.graphql.types.model_version import load_model_version

        return await load_model_version(info, self.id, self.latest_version)

    @described("The job that trained the newest version; null for an uploaded model.", loaded=2)
    async def trained_by(self, info: Info[Context, None]) -> _TrainingJob | None:
        from bff.graphql.types.model_version import load_model_version
        from bff.graphql.types.training_job import load_training_job

        latest = await load_model_version(info, self.id, self.latest_version)
        if latest.training_job_id is None:
            return None
        return await load_training_job(info, latest.training_job_id)


async def load_model(info: Info[Context, None], model_id: str) -> Model:
    """One of the viewer's models through the request's loader; MODEL_NOT_FOUND if not theirs."""
    found = await info.context.loaders.models.load(model_id)
    if found is None:
        raise not_found("model", model_id)
    return Model.from_json(found)
