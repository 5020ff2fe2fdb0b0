"""How a GraphQL request gets its context: the user of its bearer token, or why there is none.

An HTTP request (and an SSE stream) carries its token in `Authorization`. A WebSocket may too,
but a phone usually sends it in the graphql-transport-ws `connection_init` payload
(`{"authorization": "Bearer ..."}`), which `authenticate_connection` reads.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import HTTPConnection

from bff.context import BffContext
from bff.dependencies import auth_required, bearer_token
from bff.graphql.context import Context
from services.kit.errors import ApiError
from services.kit.request_context import request_headers


async def get_context(connection: HTTPConnection) -> Context:
    """The context of one request or WebSocket; a bad token is kept as the error of fields
    that need a user."""
    bff: BffContext = connection.app.state.context
    token = bearer_token(request_headers(connection.scope).get("authorization"))
    return await _signed_in(bff, token)


async def authenticate_connection(context: Context, payload: dict[str, Any]) -> ApiError | None:
    """Sign a WebSocket in from its `connection_init` payload (or else its handshake's
    header); the auth error that refuses it, if any."""
    context.connection_params = payload
    token = connection_token(context)
    if token is not None:
        signed_in = await _signed_in(context.bff, token)
        context.user, context.auth_error = signed_in.user, signed_in.auth_error
    return None if context.user is not None else context.auth_error or auth_required()


def connection_token(context: Context) -> str | None:
    """The bearer token this request or connection signed in with."""
    params = context.connection_params
    if isinstance(params, dict):
        for key, value in params.items():
            if key.lower() == "authorization" and isinstance(value, str):
                return bearer_token(value)
    request = context.request
    if request is None:
        return None
    return bearer_token(request_headers(request.scope).get("authorization"))


async def _signed_in(bff: BffContext, token: str | None) -> Context:
    if token is None:
        return Context(bff, None, auth_required())
    try:
        user = await bff.auth.authenticate(token)
    except ApiError as exc:
        return Context(bff, None, exc)
    return Context(bff, user, None)
