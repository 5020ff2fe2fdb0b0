"""The Query root: the viewer (and, from it, everything of theirs)."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from bff.graphql.context import Context
from bff.graphql.types.viewer import Viewer


@strawberry.type
class Query:
    @strawberry.field
    async def viewer(self, info: Info[Context, None]) -> Viewer:
        """The signed-in user; an error with code AUTH_REQUIRED (etc.) when there is none."""
        user = info.context.require_user()
        return Viewer.from_user(await info.context.auth.user(user.user_id))
