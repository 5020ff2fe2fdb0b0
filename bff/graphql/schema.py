"""The GraphQL schema of the BFF: its roots, each in a module of its own, and extensions."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError
from strawberry.types import ExecutionContext

from bff.graphql.errors import is_unexpected
from bff.graphql.extensions import schema_extensions
from bff.graphql.mutations import Mutation
from bff.graphql.plain_fields import PlainFieldsExecutionContext
from bff.graphql.query import Query
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
