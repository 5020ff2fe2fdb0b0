"""How a GraphQL request gets its context: the user of its bearer token, or why there is none."""

from __future__ import annotations

from fastapi import Request

from bff.context import BffContext
from bff.dependencies import auth_required, bearer_token
from bff.graphql.context import Context
from services.kit.errors import ApiError
from services.kit.request_context import request_headers


async def get_context(request: Request) -> Context:
    """The context of one request; a bad token is kept as the error of fields that need a user."""
    bff: BffContext = request.app.state.context
    token = bearer_token(request_headers(request.scope).get("authorization"))
    if token is None:
        return Context(bff, None, auth_required())
    try:
        user = await bff.auth.authenticate(token)
    except ApiError as exc:
        return Context(bff, None, exc)
    return Context(bff, user, None)
