"""GraphQL errors carry the same codes as REST errors, in `extensions`: code, action, retry.

Errors raised on purpose (ApiError, a downstream that could not answer) carry their own code.
Errors GraphQL itself raises before running anything get one too: a document that does not
parse (GRAPHQL_PARSE_FAILED, or TOO_MANY_TOKENS), one that does not validate against the
schema or whose variables do not fit (GRAPHQL_VALIDATION_FAILED), or one over a limit
(QUERY_TOO_DEEP, TOO_MANY_ALIASES). A masked unexpected error is INTERNAL_ERROR, as in REST.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from graphql import GraphQLError, GraphQLSyntaxError
from strawberry.extensions import SchemaExtension

from services.kit.errors import Action, ApiError
from services.kit.http_client import DownstreamUnavailable

# MaskErrors' message for an error it hid (its default `error_message`).
MASKED_MESSAGE = "Unexpected error."

# Messages of strawberry's limiters, which raise plain GraphQL errors.
_LIMIT_CODES = (
    ("exceeds maximum operation depth", "QUERY_TOO_DEEP"),
    ("aliases found. Allowed:", "TOO_MANY_ALIASES"),
    ("Document contains more than", "TOO_MANY_TOKENS"),
)


def as_api_error(error: BaseException | None) -> ApiError | None:
    """The mobile error an exception stands for, if it is one we raise on purpose."""
    if isinstance(error, ApiError):
        return error
    if isinstance(error, DownstreamUnavailable):
        return error.to_api_error()
    return None


def is_unexpected(error: GraphQLError) -> bool:
    """A resolver failed in a way we did not plan for (masked, logged). A GraphQL error wrapped
    in another (a variable's value that does not fit its type) is the caller's, not ours."""
    original = error.original_error
    if original is None or isinstance(original, GraphQLError):
        return False
    return as_api_error(original) is None


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


def graphql_error_extensions(error: GraphQLError) -> dict[str, Any]:
    """The extensions of an error GraphQL raised itself (parse, validation, limits), or of a
    masked one."""
    if error.message == MASKED_MESSAGE and error.original_error is None:
        return _plain("INTERNAL_ERROR", Action.RETRY, retry=True)
    for fragment, code in _LIMIT_CODES:
        if fragment in error.message:
            return _plain(code, Action.FIX_INPUT)
    if isinstance(error, GraphQLSyntaxError):
        return _plain("GRAPHQL_PARSE_FAILED", Action.FIX_INPUT)
    return _plain("GRAPHQL_VALIDATION_FAILED", Action.FIX_INPUT)


def _plain(code: str, action: Action, *, retry: bool = False) -> dict[str, Any]:
    return {"code": code, "action": str(action), "retry": {"allowed": retry, "after_seconds": None}}


class ApiErrorExtensions(SchemaExtension):
    """Gives every error of the answer its mobile code (see the module's docstring), and adds
    the warnings of fields answered with a stale copy (`extensions.stale: true`)."""

    def get_results(self) -> dict[str, Any]:
        # Runs for every answer, also one refused before execution; `on_operation` does not
        # resume after a parse error raised inside ParserCache's hook, so code those here.
        _code_all(self.execution_context.pre_execution_errors or ())
        return {}

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is None:
            return
        errors = list(getattr(result, "errors", None) or ())
        warnings = getattr(self.execution_context.context, "warnings", None) or ()
        for warning in warnings:
            stale = {"stale": True, "ageS": warning.age_s}
            errors.append(
                GraphQLError(
                    warning.error.message,
                    path=warning.path,
                    extensions={**error_extensions(warning.error), **stale},
                )
            )
        _code_all(errors)
        if errors:
            result.errors = errors


def _code_all(errors: Iterable[GraphQLError]) -> None:
    for error in errors:
        if error.extensions and "code" in error.extensions:
            continue
        api_error = as_api_error(error.original_error)
        code = (
            error_extensions(api_error)
            if api_error is not None
            else graphql_error_extensions(error)
        )
        error.extensions = {**(error.extensions or {}), **code}
