"""FastAPI dependencies of the BFF's routes, as Annotated aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from bff.auth.service import AuthenticatedUser, AuthService
from bff.clients import ServiceClients
from bff.context import BffContext
from bff.mobile_headers import MobileHeaders
from services.kit.errors import Action, ApiError
from services.kit.request_context import request_headers


async def _context(request: Request) -> BffContext:
    context: BffContext = request.app.state.context
    return context


BffDep = Annotated[BffContext, Depends(_context)]
"""Everything a route of the BFF reaches: settings, clients, auth, caches."""


async def _auth_service(context: BffDep) -> AuthService:
    return context.auth


AuthServiceDep = Annotated[AuthService, Depends(_auth_service)]


async def _clients(context: BffDep) -> ServiceClients:
    return context.clients


Clients = Annotated[ServiceClients, Depends(_clients)]


async def _mobile_headers(request: Request) -> MobileHeaders:
    return MobileHeaders.from_scope(request.scope)


Mobile = Annotated[MobileHeaders, Depends(_mobile_headers)]


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, if there is one."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def auth_required() -> ApiError:
    """401: this needs a signed-in user."""
    return ApiError(401, "AUTH_REQUIRED", "an access token is required", action=Action.SIGN_IN)


async def authenticate(request: Request, context: BffDep) -> AuthenticatedUser:
    """The signed-in user of a request; 401 when the token is missing, expired or revoked."""
    token = bearer_token(request_headers(request.scope).get("authorization"))
    if token is None:
        raise auth_required()
    return await context.auth.authenticate(token)


CurrentUser = Annotated[AuthenticatedUser, Depends(authenticate)]
