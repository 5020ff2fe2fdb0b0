"""An OpenAPI document that tells the truth about errors and credentials.

FastAPI documents a route's success answer and a 422 in its own validation shape. Every app
here answers errors in the mobile error body, for reasons any operation can meet: bad input
(400, 422), an id that is not the caller's (404), a state the request does not fit (409), a
body over the limit (413, writes), a missing or wrong credential (401, 403, where one is
needed), a service that cannot answer (503); the BFF also answers sign-in failures (401),
an app version below the minimum (426) and rate limits (429). Each operation lists these
with the error schema, and the credential it needs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts

ERROR_SCHEMA_NAME = "ErrorResponse"
_ERROR_SCHEMA: dict[str, Any] = {
    "title": ERROR_SCHEMA_NAME,
    "description": "Every error: what went wrong, what to tell the user, whether to retry.",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "user_message", "action", "retry"],
            "properties": {
                "code": {"type": "string", "description": "stable, for the app's logic"},
                "message": {"type": "string", "description": "for developers"},
                "user_message": {"type": "string", "description": "safe to show the user"},
                "action": {"type": "string"},
                "retry": {
                    "type": "object",
                    "required": ["allowed", "after_seconds"],
                    "properties": {
                        "allowed": {"type": "boolean"},
                        "after_seconds": {"type": ["integer", "null"]},
                    },
                },
                "details": {"type": "object"},
            },
        }
    },
}
_REASONS = {
    400: "The input is malformed (a cursor that is not ours, a bad header).",
    401: "No valid credential.",
    403: "The credential does not allow this.",
    404: "Not found, or not the caller's.",
    409: "Does not fit the current state (a limit reached, a stale revision, a feed moved on).",
    413: "The body is over the limit.",
    422: "The input does not validate; `details.fields` names each field.",
    426: "This app version is below the minimum: update the app.",
    429: "Rate limited; `Retry-After` says when to try again.",
    503: "A service behind this one cannot answer now; retry later.",
}
_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

Credentials = Mapping[Callable[..., Any], tuple[str, dict[str, Any]]]
"""A dependency that checks a credential -> (its security scheme's name, the scheme)."""


def install(app: FastAPI, credentials: Credentials, always: frozenset[int]) -> None:
    """Make `app.openapi()` build the document described above (once, then kept).

    `always`: the statuses every operation of this app can answer besides the general ones
    (the BFF: 426, 429, 503)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _document(app, credentials, always)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def amend(app: FastAPI, amend_document: Callable[[dict[str, Any]], None]) -> None:
    """Make `app.openapi()` pass the document it builds through `amend_document`, once (a
    part of the app that adds to operations documents it: headers, refusals)."""
    build = app.openapi
    documented: dict[str, Any] | None = None

    def openapi() -> dict[str, Any]:
        nonlocal documented
        if documented is None:
            documented = build()
            amend_document(documented)
        return documented

    app.openapi = openapi  # type: ignore[method-assign]


def _document(app: FastAPI, credentials: Credentials, always: frozenset[int]) -> dict[str, Any]:
    document = get_openapi(title=app.title, version=app.version, routes=app.routes)
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas[ERROR_SCHEMA_NAME] = _ERROR_SCHEMA
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    error = {
        "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_SCHEMA_NAME}"}}
        }
    }
    routes = {
        (context.path_format, method): context
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute)
        for method in context.methods or ()
    }
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            route = routes.get((path, method.upper()))
            # An id in the path, the query or the body may not be the caller's (404); a
            # write or a read of a feed may meet a state it does not fit (409).
            statuses = {400, 404, 409, 422} | set(always)
            if method.upper() in _WRITE_METHODS:
                statuses.add(413)
            schemes = sorted(_schemes(route, credentials)) if route else []
            if schemes:
                statuses |= {401, 403}
                operation["security"] = [{name: []} for name in schemes]
                components.setdefault("securitySchemes", {}).update(
                    {name: scheme for name, scheme in credentials.values() if name in schemes}
                )
            responses = operation.setdefault("responses", {})
            for status in sorted(statuses):
                responses[str(status)] = {"description": _REASONS[status], **error}
            # The HTTP server's own answer, before any app code: no error body of ours.
            responses["414"] = {"description": "The URL is longer than the server takes."}
    return document


def _schemes(route: RouteContext, credentials: Credentials) -> set[str]:
    dependant: Dependant = route.dependant  # with the dependencies of the routers it is in
    return {credentials[call][0] for call in _calls(dependant) if call in credentials}


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    if dependant.call is not None:
        yield dependant.call
    for sub in dependant.dependencies:
        yield from _calls(sub)
