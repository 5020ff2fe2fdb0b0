"""FastAPI dependencies shared by every service, as Annotated aliases."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from services.kit import change_versions
from services.kit.errors import ApiError
from services.kit.request_context import request_headers
from services.kit.runtime import ServiceRuntime
from services.kit.service_auth import ServicePrincipal

C = TypeVar("C")


# Dependencies are `async def` although they never await: FastAPI runs a plain `def` dependency
# on its thread pool, a thread hop per dependency per request.
def context_dependency(kind: type[C]) -> Callable[[Request], Awaitable[C]]:
    """The dependency that hands a route its app's context (`create_service_app(context=)`):
    `DatasetsDep = Annotated[DatasetsContext, Depends(context_dependency(DatasetsContext))]`."""

    async def context(request: Request) -> C:
        found = request.app.state.context
        if not isinstance(found, kind):
            raise TypeError(f"this app's context is a {type(found).__name__}, not {kind.__name__}")
        return found

    return context


async def get_runtime(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


Runtime = Annotated[ServiceRuntime, Depends(get_runtime)]


async def _db_session(runtime: Runtime) -> AsyncIterator[AsyncSession]:
    async with runtime.db.session() as session:
        yield session


DbSession = Annotated[AsyncSession, Depends(_db_session)]


async def service_principal(request: Request) -> ServicePrincipal:
    """The calling service, from a valid service token for this service (else 401/403)."""
    runtime: ServiceRuntime = request.app.state.runtime  # no sub-dependency: one less per call
    return runtime.verifier.verify(request_headers(request.scope).get("authorization"))


Caller = Annotated[ServicePrincipal, Depends(service_principal)]


async def _acting_user(principal: Caller) -> str:
    if not principal.user_id:
        raise ApiError(403, "ACTING_USER_REQUIRED", "this call must act for a user")
    change_versions.act_for(principal.user_id)
    return principal.user_id


def only_from(*callers: str) -> Any:
    """A route dependency: only these services may call it (403 SERVICE_CALLER_NOT_ALLOWED),
    for reads across every user that only an operator surface needs."""

    async def check(principal: Caller) -> ServicePrincipal:
        if principal.caller not in callers:
            raise ApiError(
                403, "SERVICE_CALLER_NOT_ALLOWED", f"{principal.caller!r} may not call this"
            )
        return principal

    return Depends(check)


ActingUser = Annotated[str, Depends(_acting_user)]
"""The user an internal call acts for, taken from the service token's `sub` claim."""

INTERNAL_DEPENDENCIES = [Depends(service_principal)]
"""Put on every internal router: no valid service token, no answer."""
