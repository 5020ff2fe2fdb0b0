"""Idempotency-Key on GraphQL: a POST /graphql whose operation is a mutation is keyed like an
unsafe REST call (in the user's "graphql" scope, the fingerprint its body); queries are not.

A GraphQL answer is 200 whether or not it worked, so what is kept is decided by its body: an
answer with no `errors` (user errors are data: a retry answers them again); one with errors (a
service down, an expired token, a document that does not validate) is not kept, and the retry
runs again.
"""

from __future__ import annotations

from typing import Any

import orjson
from graphql import GraphQLError, OperationDefinitionNode, OperationType, parse

from bff.graphql.router import GRAPHQL_PATH

GRAPHQL_SCOPE = "graphql"
"""The store's scope of GraphQL keys, apart from REST's: the same key names one action."""


def is_graphql_post(method: str, path: str) -> bool:
    """Whether the request is a GraphQL operation sent by POST (mutations come only so)."""
    return method == "POST" and path == GRAPHQL_PATH


def runs_a_mutation(body: bytes) -> bool:
    """Whether a JSON GraphQL request body runs a mutation (any of a batch's operations).
    A body that is not such a request runs none: it is refused without running anything."""
    try:
        request = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    requests = request if isinstance(request, list) else [request]
    return any(_is_mutation(item) for item in requests)


def is_kept_answer(body: bytes) -> bool:
    """Whether a GraphQL answer is kept for a retry: JSON without `errors` (in every item)."""
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    answers = answer if isinstance(answer, list) else [answer]
    return all(isinstance(item, dict) and "errors" not in item for item in answers)


def _is_mutation(request: Any) -> bool:
    if not isinstance(request, dict) or not isinstance(request.get("query"), str):
        return False  # a persisted query's hash alone: its document is not known here
    try:
        document = parse(request["query"])
    except GraphQLError:
        return False
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    name = request.get("operationName")
    if name:
        operations = [op for op in operations if op.name is not None and op.name.value == name]
    elif len(operations) != 1:
        return False  # ambiguous without an operation name: refused by the schema
    return any(op.operation is OperationType.MUTATION for op in operations)
