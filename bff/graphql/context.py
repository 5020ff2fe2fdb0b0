"""What every resolver of one request sees: the signed-in user (or why not) and the BFF."""

from __future__ import annotations

from fastapi import Request
from strawberry.fastapi import BaseContext

from bff.auth.service import AuthenticatedUser, AuthService
from bff.clients import ServiceClients
from bff.context import BffContext
from bff.dependencies import auth_required, bearer_token
from services.kit.errors import ApiError
from services.kit.request_context import request_headers


class Context(BaseContext):
    """Built fresh for each GraphQL request."""

    def __init__(
        self, bff: BffContext, user: AuthenticatedUser | None, auth_error: ApiError | None
    ) -> None:
        super().__init__()
        self.bff = bff
        self.user = user
        self.auth_error = auth_error

    @property
    def auth(self) -> AuthService:
        return self.bff.auth

    @property
    def clients(self) -> ServiceClients:
        return self.bff.clients

    def require_user(self) -> AuthenticatedUser:
        """The signed-in user; raises the auth error (AUTH_REQUIRED, TOKEN_EXPIRED, ...) if none."""
        if self.user is None:
            raise self.auth_error or auth_required()
        return self.user


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
