"""The admin API's own credential: an admin token with scopes, never a user's token."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.routing import APIRoute

from bff.admin.context import AdminContext
from bff.admin.tokens import AdminPrincipal, forbidden_scope
from bff.dependencies import bearer_token
from services.kit.request_context import request_headers

_READS = frozenset({"GET", "HEAD", "OPTIONS"})


async def _admin(request: Request) -> AdminContext:
    admin: AdminContext = request.app.state.admin
    return admin


AdminDep = Annotated[AdminContext, Depends(_admin)]


async def admin_principal(request: Request, admin: AdminDep) -> AdminPrincipal:
    """The operator of a live admin token; 401 ADMIN_TOKEN_INVALID for anything else (a
    user's access token included)."""
    token = bearer_token(request_headers(request.scope).get("authorization"))
    return await admin.tokens.verify(token)


Operator = Annotated[AdminPrincipal, Depends(admin_principal)]


def requires(scope: str) -> Any:
    """A route dependency: the token must hold `scope` (403 FORBIDDEN_SCOPE; a refused write
    is audit-logged under the route's name, which is the action its audit entries name)."""

    async def check(request: Request, principal: Operator, admin: AdminDep) -> AdminPrincipal:
        if scope not in principal.scopes:
            if request.method not in _READS:
                route = request.scope.get("route")
                action = route.name if isinstance(route, APIRoute) else request.method
                await admin.audit.record(
                    principal, action, request.url.path, "FORBIDDEN_SCOPE", {"scope": scope}
                )
            raise forbidden_scope(scope)
        return principal

    checker: Callable[..., Awaitable[AdminPrincipal]] = check
    return Depends(checker)
