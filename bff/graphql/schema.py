"""The GraphQL schema of the BFF: its roots, each in a module of its own, and extensions."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError
from strawberry.types import ExecutionContext

from bff.graphql.errors import is_unexpected
from bff.graphql.extensions import document_limits, schema_extensions
from bff.graphql.mutations import Mutation
from bff.graphql.plain_fields import PlainFieldsExecutionContext
from bff.graphql.query import Query
from bff.graphql.safelists.documents import DocumentChecker
from bff.graphql.subscriptions import Subscription
from bff.settings import BffSettings


class _Schema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Auth and downstream errors are answers, not bugs: only log the unexpected ones.
        unexpected = [error for error in errors if is_unexpected(error)]
        if unexpected:
            super().process_errors(unexpected, execution_context)


def build_schema(settings: BffSettings | None = None) -> strawberry.Schema:
    """The schema with its extensions (limits, caches, error codes)."""
    settings = settings or BffSettings()
    return _Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=schema_extensions(settings),
        execution_context_class=PlainFieldsExecutionContext,
    )


def build_document_checker(schema: strawberry.Schema, settings: BffSettings) -> DocumentChecker:
    """Checks an uploaded document as a request's is checked: the schema, its limits."""
    rules = [rule for limit in document_limits(settings) for rule in limit.validation_rules]
    return DocumentChecker(
        schema._schema,
        rules,
        max_tokens=settings.graphql_max_tokens,
        max_bytes=settings.graphql_safelist_max_document_bytes,
    )
