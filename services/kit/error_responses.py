"""Errors as HTTP answers: the mobile error body for every error an app raises or meets."""

from __future__ import annotations

import math

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match

from services.kit.errors import Action, ApiError, validation_failed
from services.kit.structured_logging import get_logger

_log = get_logger(__name__)


def error_response(error: ApiError) -> Response:
    """`error` as an HTTP response with its status and headers (Retry-After when it says)."""
    headers = dict(error.headers)
    if error.retry_after_s is not None and "retry-after" not in {k.lower() for k in headers}:
        headers["Retry-After"] = str(math.ceil(error.retry_after_s))
    return Response(
        orjson.dumps(error.body()),
        status_code=error.status,
        media_type="application/json",
        headers=headers,
    )


_STATUS_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    409: "CONFLICT",
    411: "LENGTH_REQUIRED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "RATE_LIMITED",
}


async def _handle_api_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc)


async def _handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = _STATUS_CODES.get(exc.status_code, "HTTP_ERROR")
    message = exc.detail if isinstance(exc.detail, str) else code.lower().replace("_", " ")
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(_allowed_methods(request))
    return error_response(ApiError(exc.status_code, code, message, headers=headers))


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app answers at this path (Starlette names only the
    first route's, where several routes share a path)."""
    routes = request.app.router.routes
    return [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    ]


async def _handle_validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return error_response(validation_failed(exc.errors()))


async def _handle_unexpected(_request: Request, exc: Exception) -> Response:
    _log.exception("unhandled_error", error_type=type(exc).__name__)
    return error_response(ApiError(500, "INTERNAL_ERROR", "internal error", action=Action.RETRY))


def install_error_handlers(app: FastAPI) -> None:
    """Every error this app answers uses the mobile error body."""
    app.add_exception_handler(ApiError, _handle_api_error)
    app.add_exception_handler(StarletteHTTPException, _handle_http_exception)
    app.add_exception_handler(RequestValidationError, _handle_validation_error)
    app.add_exception_handler(Exception, _handle_unexpected)
