"""What every resolver of one request sees: the signed-in user (or why not), the BFF, the
request's DataLoaders, and the warnings to add to the answer."""

from __future__ import annotations

from functools import cached_property

from strawberry.fastapi import BaseContext
from strawberry.types.graphql import OperationType

from bff.auth.service import AuthenticatedUser, AuthService
from bff.clients import ServiceClients
from bff.context import BffContext
from bff.dependencies import auth_required
from bff.graphql.dataloaders import Loaders
from services.kit.errors import ApiError


class FieldWarning:
    """A field answered anyway (a stale copy) with an error that says why: added to `errors`
    with `extensions.stale: true`."""

    __slots__ = ("age_s", "error", "path")

    def __init__(self, path: list[str | int], error: ApiError, age_s: int) -> None:
        self.path = path
        self.error = error
        self.age_s = age_s


class Context(BaseContext):
    """Built for each GraphQL request (for each WebSocket connection: `start_operation`)."""

    def __init__(
        self, bff: BffContext, user: AuthenticatedUser | None, auth_error: ApiError | None
    ) -> None:
        super().__init__()
        self.bff = bff
        self.user = user
        self.auth_error = auth_error
        self.warnings: list[FieldWarning] = []
        # What the operation that ran last was (a query's answer may be kept).
        self.operation_type: OperationType | None = None

    @property
    def auth(self) -> AuthService:
        return self.bff.auth

    @property
    def clients(self) -> ServiceClients:
        return self.bff.clients

    @cached_property
    def loaders(self) -> Loaders:
        """The signed-in user's loaders, made on first use; raises the auth error if none."""
        return Loaders(self.clients, str(self.require_user().user_id))

    def start_operation(self) -> None:
        """Forget what an earlier operation loaded: over a WebSocket one context serves every
        operation of the connection, and each event a subscription yields reads afresh."""
        self.__dict__.pop("loaders", None)
        self.warnings = []
        self.operation_type = None

    def require_user(self) -> AuthenticatedUser:
        """The signed-in user; raises the auth error (AUTH_REQUIRED, TOKEN_EXPIRED, ...) if none."""
        if self.user is None:
            raise self.auth_error or auth_required()
        return self.user
