"""The /graphql route: POST, GET for queries (persisted or not, revalidated by ETag), and
subscriptions over graphql-transport-ws (WebSocket) and graphql-sse (`Accept:
text/event-stream`, distinct connections mode: one stream per request, `next` events then
`complete`). Every document, whichever way it comes (a WebSocket `subscribe` included), is
held to the safelist of the phone's platform and app version when it has one
(bff/graphql/safelists)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, cast

import orjson
import strawberry
from cross_web import AsyncHTTPRequestAdapter
from cross_web import HTTPException as CrossWebHTTPException
from graphql import GraphQLError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Match
from starlette.types import Scope
from starlette.websockets import WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.fastapi import GraphQLRouter
from strawberry.http import GraphQLRequestData
from strawberry.http.base import BaseRequestProtocol
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions import GRAPHQL_SSE_PROTOCOL, GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    SubscribeMessage,
)
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET

from bff import read_versions
from bff.graphql.context import Context
from bff.graphql.context_getter import authenticate_connection, get_context
from bff.graphql.errors import error_extensions
from bff.graphql.kept_answers import KeptAnswers, KeptResult
from bff.graphql.persisted_queries import PersistedQueries, PersistedQueryError
from bff.graphql.safelists.service import Safelists
from bff.graphql.subscriptions.hub import too_many_subscriptions
from bff.known_versions import KnownVersions
from bff.mobile_headers import current_mobile_headers
from bff.settings import BffSettings
from services.kit.cache import Cache
from services.kit.errors import ApiError

GRAPHQL_PATH = "/graphql"
# A GET answer is the user's own and may change at any time: keep it, but ask every time.
GET_CACHE_CONTROL = "private, max-age=0, must-revalidate"
# graphql-transport-ws close code for a refused connection_init (the reason is the error code).
FORBIDDEN_CLOSE = 4403


class _TransportWsHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws, signed in by `connection_init` and with the per-connection limit
    answered as an error with extensions.code TOO_MANY_SUBSCRIPTIONS."""

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        payload = message.get("payload") or {}
        if not (self.connection_init_received or self.connection_timed_out) and isinstance(
            payload, dict
        ):
            refusal = await authenticate_connection(self.context, payload)
            if refusal is not None:
                if self.connection_init_timeout_task:
                    self.connection_init_timeout_task.cancel()
                self.connection_init_received = True
                await self.websocket.close(code=FORBIDDEN_CLOSE, reason=refusal.code)
                return
        await super().handle_connection_init(message)

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        view = cast(_Router, self.view)
        if self.connection_acknowledged and message["id"] not in self.operations:
            limit = view.subscriptions_per_connection
            if len(self.operations) >= limit:
                refusal = too_many_subscriptions(limit, "connection")
                await self._refuse(message["id"], refusal.message, refusal)
                return
            # The app version's safelist holds here too; a hash alone names a document (a
            # query that is no string cannot run: strawberry answers it).
            payload = message.get("payload")
            if isinstance(payload, dict):
                query, extensions = payload.get("query"), payload.get("extensions")
                try:
                    document = await view.document(
                        query if isinstance(query, str) else None,
                        extensions if isinstance(extensions, dict) else None,
                    )
                except PersistedQueryError as exc:
                    await self._refuse(message["id"], exc.message, exc.error)
                    return
                if document is not None:
                    payload["query"] = document
        await super().handle_subscribe(message)

    async def _refuse(self, operation_id: str, message: str, refusal: ApiError) -> None:
        """An `error` message for one operation (it ends that operation, not the socket)."""
        error = GraphQLError(message, extensions=error_extensions(refusal))
        await self.send_message({"id": operation_id, "type": "error", "payload": [error.formatted]})


class _TextWebSocket(ASGIWebSocketAdapter):
    """graphql-transport-ws messages are text frames (strawberry sends bytes as binary ones,
    which graphql-ws clients refuse)."""

    async def send_json(self, message: Mapping[str, object]) -> None:
        try:
            await self.ws.send_text(orjson.dumps(message).decode())
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc


class _Router(GraphQLRouter[Context, None]):
    graphql_transport_ws_handler_class = _TransportWsHandler
    websocket_adapter_class = _TextWebSocket

    def __init__(
        self,
        schema: strawberry.Schema,
        persisted: PersistedQueries,
        safelists: Safelists,
        answers: KeptAnswers,
        subscriptions_per_connection: int,
        **kwargs: Any,
    ) -> None:
        super().__init__(schema, **kwargs)
        self.persisted = persisted
        self.safelists = safelists
        self.answers = answers
        self.subscriptions_per_connection = subscriptions_per_connection

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        # Declines every other path before trying its routes (kit/routing.py says why): the
        # app asks it right after the dashboard and sync routers (bff/app.py), so the REST
        # requests for the routers after it pass it at the cost of one comparison.
        if not scope.get("path", "").endswith(GRAPHQL_PATH):
            return Match.NONE, {}
        return super().matches(scope)

    def encode_json(self, data: object) -> bytes:
        if isinstance(data, _KeptBody):  # a kept answer: encoded the first time it went out
            if data.kept.encoded is None:
                data.kept.encoded = orjson.dumps(data)
            return data.kept.encoded
        return orjson.dumps(data)  # the stdlib encoder cost more than the rest of a small answer

    async def process_result(self, request: Any, result: ExecutionResult) -> Any:
        processed = await super().process_result(request, result)
        return _KeptBody(processed, result) if isinstance(result, KeptResult) else processed

    def should_render_graphql_ide(self, request: BaseRequestProtocol) -> bool:
        # A GET with only a persisted query's hash is a query, not a visit of the IDE.
        return "extensions" not in request.query_params and super().should_render_graphql_ide(
            request
        )

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        data = await super().parse_http_body(request)
        for item in data if isinstance(data, list) else (data,):
            item.query = await self.document(item.query, item.extensions)
        return data

    async def document(self, query: str | None, extensions: dict[str, Any] | None) -> str | None:
        """The document a request runs: when its app version has a safelist, one of that
        (sent whole or by hash; OPERATION_NOT_SAFELISTED if not in it); else its own or the
        one its APQ hash names."""
        mobile = current_mobile_headers()
        safelist = await self.safelists.of(mobile.platform, mobile.app_version)
        if safelist is not None:
            return safelist.document(query, extensions)
        if extensions:
            return await self.persisted.document(query, extensions)
        return query

    async def execute_single(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: Context,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        # A query answered before, and still current at every service: answered again
        # without running it (bff/graphql/kept_answers.py).
        key = self.answers.key(context, request_data)
        if key is None:
            return await super().execute_single(
                request, request_adapter, sub_response, context, root_value, request_data
            )
        kept = self.answers.current(key)
        if kept is not None:
            return kept
        with read_versions.reading() as reads:
            result = await super().execute_single(
                request, request_adapter, sub_response, context, root_value, request_data
            )
        self.answers.keep(key, context, reads, result)
        return result

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        # strawberry answers a request it cannot read (malformed JSON, no query, a PUT) in
        # plain text; as an HTTP error of the app's own, it gets the mobile error body.
        try:
            response = await super().run(request, context, root_value)
        except CrossWebHTTPException as exc:
            headers = {"Allow": "GET, POST"} if exc.status_code == 405 else None
            raise HTTPException(exc.status_code, exc.reason, headers=headers) from exc
        except PersistedQueryError as exc:
            error = {"message": exc.message, "extensions": error_extensions(exc.error)}
            response = Response(orjson.dumps({"errors": [error]}), media_type="application/json")
        if isinstance(request, Request) and request.method == "GET":
            return _revalidated(request, response)
        return response


class _KeptBody(dict[str, Any]):
    """The HTTP body of a kept answer, which knows its encoding once made."""

    def __init__(self, body: Mapping[str, Any], kept: KeptResult) -> None:
        super().__init__(body)
        self.kept = kept


def _revalidated(request: Request, response: Response) -> Response:
    """A GET answer with an ETag of its body; 304 when the phone has it already."""
    if isinstance(response, StreamingResponse) or response.status_code != 200:
        return response
    etag = f'"{hashlib.blake2b(bytes(response.body), digest_size=16).hexdigest()}"'
    headers = {"ETag": etag, "Cache-Control": GET_CACHE_CONTROL, "Vary": "Authorization"}
    if _matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    response.headers.update(headers)
    return response


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in tags or etag in tags


def build_graphql_router(
    schema: strawberry.Schema,
    settings: BffSettings,
    cache: Cache,
    known: KnownVersions,
    safelists: Safelists,
) -> GraphQLRouter[Context, None]:
    """The /graphql route: POST, GET for queries, WebSocket and SSE for subscriptions."""
    return _Router(
        schema,
        PersistedQueries(
            cache,
            ttl_s=settings.graphql_persisted_query_ttl_s,
            max_bytes=settings.graphql_persisted_query_max_bytes,
        ),
        safelists,
        KeptAnswers(known, reuse=settings.reuse_current_pages),
        settings.graphql_subscriptions_per_connection,
        path=GRAPHQL_PATH,
        context_getter=get_context,
        graphql_ide="graphiql" if settings.environment == "development" else None,
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_SSE_PROTOCOL),
        # Counted by the handler above (with its error code); strawberry's own would count
        # queries over the socket too and answer without one.
        max_subscriptions_per_connection=None,
    )
