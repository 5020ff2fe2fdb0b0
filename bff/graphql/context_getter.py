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
from bff.signing.canonical import request_target
from bff.signing.verifier import Presented
from services.kit.errors import ApiError
from services.kit.request_context import request_headers

GRAPHQL_TARGET = "/graphql"


async def get_context(connection: HTTPConnection) -> Context:
    """The context of one request or WebSocket; a bad token is kept as the error of fields
    that need a user."""
    bff: BffContext = connection.app.state.context
    token = bearer_token(request_headers(connection.scope).get("authorization"))
    return await _signed_in(bff, token)


async def authenticate_connection(context: Context, payload: dict[str, Any]) -> ApiError | None:
    """Sign a WebSocket in from its `connection_init` payload (or else its handshake's
    header); the auth or signature error that refuses it, if any.

    A connection is signed as a GET of its handshake's path and query with an empty body, with
    the three signature values in the payload (or else on the handshake), under the rules of
    every other request (bff/signing): what one signature admits is the connection, and its
    nonce admits it once."""
    context.connection_params = payload
    token = connection_token(context)
    if token is not None:
        signed_in = await _signed_in(context.bff, token)
        context.user, context.auth_error = signed_in.user, signed_in.auth_error
    if context.user is None:
        return context.auth_error or auth_required()
    request = context.request
    presented = Presented.of(payload)
    if not presented and request is not None:
        presented = Presented.of(request_headers(request.scope))
    target = request_target(request.scope) if request is not None else GRAPHQL_TARGET
    refusal = await context.bff.signatures.check_handshake(
        context.user.session_id, target, presented
    )
    if refusal is not None:
        context.user, context.auth_error = None, refusal
    return refusal


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
