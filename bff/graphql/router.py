"""The /graphql route: POST, and GET for queries."""

from __future__ import annotations

from typing import Any

import orjson
import strawberry
from cross_web import HTTPException as CrossWebHTTPException
from starlette.exceptions import HTTPException
from strawberry.fastapi import GraphQLRouter
from strawberry.types.unset import UNSET

from bff.graphql.context import Context
from bff.graphql.context_getter import get_context
from bff.settings import BffSettings

GRAPHQL_PATH = "/graphql"


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


def build_graphql_router(
    schema: strawberry.Schema, settings: BffSettings
) -> GraphQLRouter[Context, None]:
    """The /graphql route (POST, and GET for queries); no subscriptions yet."""
    return _Router(
        schema,
        path=GRAPHQL_PATH,
        context_getter=get_context,
        graphql_ide="graphiql" if settings.environment == "development" else None,
        subscription_protocols=(),
    )
