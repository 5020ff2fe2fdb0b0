"""The schema's extensions: document limits (depth, aliases, tokens), parser and validation
caches, the mobile error codes, and masking of unexpected errors."""

from __future__ import annotations

from collections.abc import Callable

from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)

from bff.graphql.errors import ApiErrorExtensions, is_unexpected
from bff.settings import BffSettings

_DOCUMENT_CACHE_SIZE = 256


def schema_extensions(settings: BffSettings) -> list[Callable[[], SchemaExtension]]:
    """What every operation runs through, in order."""
    limits = [
        QueryDepthLimiter(max_depth=settings.graphql_max_depth),
        MaxAliasesLimiter(max_alias_count=settings.graphql_max_aliases),
    ]
    return [
        lambda: MaxTokensLimiter(max_token_count=settings.graphql_max_tokens),
        *(_per_request(limit) for limit in limits),
        lambda: ParserCache(maxsize=_DOCUMENT_CACHE_SIZE),
        lambda: ValidationCache(maxsize=_DOCUMENT_CACHE_SIZE),
        ApiErrorExtensions,
        lambda: MaskErrors(should_mask_error=is_unexpected),
    ]


def _per_request(limit: AddValidationRules) -> Callable[[], SchemaExtension]:
    # The same rule classes on every request, so the validation cache can hit.
    rules = limit.validation_rules
    return lambda: AddValidationRules(rules)
