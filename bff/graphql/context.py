"""What every resolver of one request sees: the signed-in user (or why not) and the clients."""

from __future__ import annotations

from fastapi import Request
from strawberry.fastapi import BaseContext

from bff.auth.service import AuthenticatedUser, AuthService
from bff.clients import ServiceClients
from bff.dependencies import auth_required, bearer_token
from services.kit.errors import ApiError


class Context(BaseContext):
    """Built fresh for each GraphQL request."""

    def __init__(
        self,
        auth: AuthService,
        clients: ServiceClients,
        user: AuthenticatedUser | None,
        auth_error: ApiError | None,
    ) -> None:
        super().__init__()
        self.auth = auth
        self.clients = clients
        self.user = user
        self.auth_error = auth_error

    def require_user(self) -> AuthenticatedUser:
        """The signed-in user; raises the auth error (AUTH_REQUIRED, TOKEN_EXPIRED, ...) if none."""
        if self.user is None:
            raise self.auth_error or auth_required()
        return self.user


async def get_context(request: Request) -> Context:
    """The context of one request; a bad token is kept as the error of fields that need a user."""
    auth: AuthService = request.app.state.auth
    clients: ServiceClients = request.app.state.clients
    token = bearer_token(request.headers.get("authorization"))
    if token is None:
        return Context(auth, clients, None, auth_required())
    try:
        user = await auth.authenticate(token)
    except ApiError as exc:
        return Context(auth, clients, None, exc)
    return Context(auth, clients, user, None)
