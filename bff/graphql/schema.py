"""The GraphQL schema of the BFF and the router that serves it at /graphql."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import strawberry
from cross_web import HTTPException as CrossWebHTTPException
from graphql import GraphQLError
from starlette.exceptions import HTTPException
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
from strawberry.fastapi import GraphQLRouter
from strawberry.types import ExecutionContext, Info
from strawberry.types.unset import UNSET

from bff.graphql.context import Context, get_context
from bff.graphql.errors import ApiErrorExtensions, is_unexpected
from bff.graphql.types.viewer import Viewer
from bff.settings import BffSettings

GRAPHQL_PATH = "/graphql"
_DOCUMENT_CACHE_SIZE = 256


@strawberry.type
class Query:
    @strawberry.field
    async def viewer(self, info: Info[Context, None]) -> Viewer:
        """The signed-in user; an error with code AUTH_REQUIRED (etc.) when there is none."""
        user = info.context.require_user()
        return Viewer.from_user(await info.context.auth.user(user.user_id))


class _Schema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Auth and downstream errors are answers, not bugs: only log the unexpected ones.
        unexpected = [error for error in errors if is_unexpected(error)]
        if unexpected:
            super().process_errors(unexpected, execution_context)


def build_schema(settings: BffSettings | None = None) -> strawberry.Schema:
    """The schema with its document limits (depth, aliases, tokens) and caches."""
    settings = settings or BffSettings()
    limits = [
        QueryDepthLimiter(max_depth=settings.graphql_max_depth),
        MaxAliasesLimiter(max_alias_count=settings.graphql_max_aliases),
    ]
    extensions: list[Callable[[], SchemaExtension]] = [
        lambda: MaxTokensLimiter(max_token_count=settings.graphql_max_tokens),
        *(_per_request(limit) for limit in limits),
        lambda: ParserCache(maxsize=_DOCUMENT_CACHE_SIZE),
        lambda: ValidationCache(maxsize=_DOCUMENT_CACHE_SIZE),
        ApiErrorExtensions,
        lambda: MaskErrors(should_mask_error=is_unexpected),
    ]
    return _Schema(query=Query, extensions=extensions)


def _per_request(limit: AddValidationRules) -> Callable[[], SchemaExtension]:
    # The same rule classes on every request, so the validation cache can hit.
    rules = limit.validation_rules
    return lambda: AddValidationRules(rules)


class _Router(GraphQLRouter[Context, None]):
    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)  # the stdlib encoder cost more than the rest of a small answer

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        # strawberry answers a request it cannot read (malformed JSON, no query, a PUT) in
        # plain text; as an HTTP error of the app's own, it gets the mobile error body.
        try:
            return await super().run(request, context, root_value)
        except CrossWebHTTPException as exc:
            headers = {"Allow": "GET, POST"} if exc.status_code == 405 else None
            raise HTTPException(exc.status_code, exc.reason, headers=headers) from exc


def build_graphql_router(settings: BffSettings) -> GraphQLRouter[Context, None]:
    """The /graphql route (POST, and GET for queries); no subscriptions yet."""
    return _Router(
        build_schema(settings),
        path=GRAPHQL_PATH,
        context_getter=get_context,
        graphql_ide="graphiql" if settings.environment == "development" else None,
        subscription_protocols=(),
    )
