"""Mutations of the viewer's sessions: sign out here, sign one device out, or all of them.
(Signing in and refreshing tokens stay REST: they answer credentials.)"""

from __future__ import annotations

from uuid import UUID

import strawberry
from pydantic import BaseModel
from strawberry.types import Info

from bff.graphql.context import Context
from bff.graphql.mutations.user_errors import attempt, contract, input_values
from bff.graphql.types.user_error import UserError


@strawberry.input
class RevokeSessionInput:
    session_id: strawberry.ID


@strawberry.type
class RevokeSessionPayload:
    """The session signed out; its access and refresh tokens stop working."""

    session_id: strawberry.ID | None
    user_errors: list[UserError]


@strawberry.type
class LogoutPayload:
    """How many sessions ended (this one included)."""

    ended_sessions: int
    user_errors: list[UserError]


class _SessionTarget(BaseModel):
    session_id: UUID


@strawberry.type
class SessionMutations:
    @strawberry.mutation
    async def revoke_session(
        self, info: Info[Context, None], input: RevokeSessionInput
    ) -> RevokeSessionPayload:
        """Sign one of the viewer's devices out."""
        user = info.context.require_user()
        auth = info.context.auth

        async def revoke() -> strawberry.ID:
            target = contract(_SessionTarget, input_values(input))
            await auth.revoke_session(user.user_id, target.session_id)
            return input.session_id

        result = await attempt(revoke, {"SESSION_NOT_FOUND": ["session_id"]})
        if isinstance(result, list):
            return RevokeSessionPayload(session_id=None, user_errors=result)
        return RevokeSessionPayload(session_id=result, user_errors=[])

    @strawberry.mutation
    async def logout(self, info: Info[Context, None]) -> LogoutPayload:
        """End this session (the one of the request's access token)."""
        user = info.context.require_user()
        await info.context.auth.logout(user.session_id)
        return LogoutPayload(ended_sessions=1, user_errors=[])

    @strawberry.mutation
    async def logout_everywhere(self, info: Info[Context, None]) -> LogoutPayload:
        """End every session of the viewer, on every device, this one included."""
        user = info.context.require_user()
        ended = await info.context.auth.logout_all(user.user_id)
        return LogoutPayload(ended_sessions=ended, user_errors=[])
