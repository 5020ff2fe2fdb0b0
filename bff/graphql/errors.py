"""GraphQL errors carry the same codes as REST errors, in `extensions`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from services.kit.errors import ApiError
from services.kit.http_client import DownstreamUnavailable


def as_api_error(error: BaseException | None) -> ApiError | None:
    """The mobile error an exception stands for, if it is one we raise on purpose."""
    if isinstance(error, ApiError):
        return error
    if isinstance(error, DownstreamUnavailable):
        return error.to_api_error()
    return None


def is_unexpected(error: GraphQLError) -> bool:
    """A resolver failed in a way we did not plan for (masked, logged)."""
    return error.original_error is not None and as_api_error(error.original_error) is None


def error_extensions(error: ApiError) -> dict[str, Any]:
    """The `extensions` of a GraphQL error: code, action, retry and details."""
    body = error.body()["error"]
    extensions: dict[str, Any] = {
        "code": body["code"],
        "action": body["action"],
        "retry": body["retry"],
    }
    if "details" in body:
        extensions["details"] = body["details"]
    return extensions


class ApiErrorExtensions(SchemaExtension):
    """Adds code/action/retry to each error raised as an ApiError or DownstreamUnavailable."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        for error in getattr(result, "errors", None) or ():
            api_error = as_api_error(error.original_error)
            if api_error is not None:
                error.extensions = {**(error.extensions or {}), **error_extensions(api_error)}
