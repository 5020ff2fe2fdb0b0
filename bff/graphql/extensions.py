"""The schema's extensions: document limits (depth, aliases, tokens, cost; no introspection in
production), parser and validation caches, the mobile error codes, and masking of unexpected
errors."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.types.execution import StreamExecutionResult

from bff.graphql.context import Context
from bff.graphql.cost import QueryCost
from bff.graphql.errors import ApiErrorExtensions, as_api_error, error_extensions, is_unexpected
from bff.settings import BffSettings

_DOCUMENT_CACHE_SIZE = 256


def document_limits(settings: BffSettings) -> list[AddValidationRules]:
    """The validation rules that bound a document: depth, aliases, and no introspection in
    production (the token limit is the parser's)."""
    limits: list[AddValidationRules] = [
        QueryDepthLimiter(max_depth=settings.graphql_max_depth),
        MaxAliasesLimiter(max_alias_count=settings.graphql_max_aliases),
    ]
    if settings.environment == "production":
        limits.append(DisableIntrospection())
    return limits


def schema_extensions(settings: BffSettings) -> list[Callable[[], SchemaExtension]]:
    """What every operation runs through, in order."""
    return [
        lambda: MaxTokensLimiter(max_token_count=settings.graphql_max_tokens),
        *(_per_request(limit) for limit in document_limits(settings)),
        lambda: ParserCache(maxsize=_DOCUMENT_CACHE_SIZE),
        lambda: ValidationCache(maxsize=_DOCUMENT_CACHE_SIZE),
        lambda: QueryCost(max_cost=settings.graphql_max_cost),
        FreshLoaders,
        ApiErrorExtensions,
        StreamedErrorCodes,
        lambda: MaskErrors(should_mask_error=is_unexpected),
    ]


class FreshLoaders(SchemaExtension):
    """Each operation loads afresh, also the second one on a WebSocket connection; the
    context learns what kind of operation ran."""

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context.context
        if isinstance(context, Context):
            context.start_operation()
        yield
        if isinstance(context, Context):
            context.operation_type = self.execution_context.operation_type


class StreamedErrorCodes(SchemaExtension):
    """The error codes of each result a subscription streams (an auth error, a revoked
    session, a service that went away): `ApiErrorExtensions` sees only the operation's end."""

    def on_stream_result(self, result: StreamExecutionResult) -> Iterator[None]:
        for error in getattr(result, "errors", None) or ():
            api_error = as_api_error(error.original_error)
            if api_error is not None and "code" not in (error.extensions or {}):
                error.extensions = {**(error.extensions or {}), **error_extensions(api_error)}
        yield


def _per_request(limit: AddValidationRules) -> Callable[[], SchemaExtension]:
    # The same rule classes on every request, so the validation cache can hit.
    rules = limit.validation_rules
    return lambda: AddValidationRules(rules)
