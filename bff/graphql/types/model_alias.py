"""An alias of a model (production, staging, ...) and the version it points at."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from bff.graphql.context import Context
from bff.graphql.types.described import described

if TYPE_CHECKING:
    from bff.graphql.types.model_version import ModelVersion

_ModelVersion = Annotated["ModelVersion", strawberry.lazy("bff.graphql.types.model_version")]


@strawberry.type
class ModelAlias:
    name: str
    version: int
    model_id: strawberry.Private[str]

    @described("The version the alias points at.", loaded=1)
    async def model_version(self, info: Info[Context, None]) -> _ModelVersion | None:
        from bff.graphql.types.model_version import load_model_version

        return await load_model_version(info, self.model_id, self.version)
