"""What every resolver of one request sees: the signed-in user (or why not) and the BFF."""

from __future__ import annotations

from strawberry.fastapi import BaseContext

from bff.auth.service import AuthenticatedUser, AuthService
from bff.clients import ServiceClients
from bff.context import BffContext
from bff.dependencies import auth_required
from services.kit.errors import ApiError


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
