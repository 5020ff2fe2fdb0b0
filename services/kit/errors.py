"""The mobile error body and the exception handlers that always answer with it."""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from services.kit.structured_logging import get_logger

_log = get_logger(__name__)


class Action(StrEnum):
    """What the app should do about an error."""

    NONE = "none"
    RETRY = "retry"
    REFRESH_TOKEN = "refresh_token"  # noqa: S105 - an action name, not a secret
    SIGN_IN = "sign_in"
    UPDATE_APP = "update_app"
    FIX_INPUT = "fix_input"
    CONTACT_SUPPORT = "contact_support"


class ApiError(Exception):
    """An error answered to the caller in the mobile error format."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        user_message: str | None = None,
        action: Action = Action.NONE,
        retry_allowed: bool | None = None,
        retry_after_s: float | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.user_message = user_message or _default_user_message(status)
        self.action = action
        self.retry_allowed = (
            (status >= 500 or status == 429) if retry_allowed is None else retry_allowed
        )
        self.retry_after_s = retry_after_s
        self.details = details
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        """The JSON body: {"error": {code, message, user_message, action, retry}}."""
        error: dict[str, Any] = {
            "code": self.code,
            "message": self.message,
            "user_message": self.user_message,
            "action": str(self.action),
            "retry": {
                "allowed": self.retry_allowed,
                "after_seconds": (
                    None if self.retry_after_s is None else math.ceil(self.retry_after_s)
                ),
            },
        }
        if self.details:
            error["details"] = self.details
        return {"error": error}

    def response(self) -> Response:
        """This error as an HTTP response with its status and headers."""
        headers = dict(self.headers)
        if self.retry_after_s is not None and "retry-after" not in {k.lower() for k in headers}:
            headers["Retry-After"] = str(math.ceil(self.retry_after_s))
        return Response(
            orjson.dumps(self.body()),
            status_code=self.status,
            media_type="application/json",
            headers=headers,
        )


def _default_user_message(status: int) -> str:
    if status == 401:
        return "Please sign in again."
    if status == 403:
        return "You don't have access to this."
    if status == 404:
        return "We couldn't find that."
    if status == 409:
        return "This changed somewhere else. Refresh and try again."
    if status == 413:
        return "That is too large."
    if status == 426:
        return "Please update the app to continue."
    if status == 429:
        return "You're going a bit fast. Try again in a moment."
    if status >= 500:
        return "Something went wrong on our side. Please try again."
    return "Please check what you entered and try again."


def not_found(resource: str, ident: object) -> ApiError:
    """A 404 naming what was looked for; other users' resources also answer this."""
    return ApiError(404, f"{resource.upper()}_NOT_FOUND", f"{resource} {ident} not found")


def invalid_input(code: str, message: str, **details: Any) -> ApiError:
    """A 4xx for input the caller can fix."""
    return ApiError(422, code, message, action=Action.FIX_INPUT, details=details or None)


def service_unavailable(service: str, reason: str, retry_after_s: float = 5) -> ApiError:
    """A 503 that names the downstream service that could not answer."""
    return ApiError(
        503,
        "SERVICE_UNAVAILABLE",
        f"the {service} service is unavailable: {reason}",
        user_message="This part of the app is temporarily unavailable. Please try again soon.",
        action=Action.RETRY,
        retry_after_s=retry_after_s,
        details={"service": service},
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
    return exc.response()


async def _handle_http_exception(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = _STATUS_CODES.get(exc.status_code, "HTTP_ERROR")
    message = exc.detail if isinstance(exc.detail, str) else code.lower().replace("_", " ")
    return ApiError(exc.status_code, code, message, headers=dict(exc.headers or {})).response()


async def _handle_validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = [
        {
            "field": ".".join(str(part) for part in err.get("loc", ()) if part != "body"),
            "problem": err.get("msg", "invalid"),
        }
        for err in exc.errors()
    ]
    fields = ", ".join(p["field"] or "body" for p in problems)
    return ApiError(
        422,
        "VALIDATION_FAILED",
        f"invalid input: {fields}",
        action=Action.FIX_INPUT,
        details={"fields": problems},
    ).response()


async def _handle_unexpected(_request: Request, exc: Exception) -> Response:
    _log.exception("unhandled_error", error_type=type(exc).__name__)
    return ApiError(500, "INTERNAL_ERROR", "internal error", action=Action.RETRY).response()


def install_error_handlers(app: FastAPI) -> None:
    """Every error this app answers uses the mobile error body."""
    app.add_exception_handler(ApiError, _handle_api_error)
    app.add_exception_handler(StarletteHTTPException, _handle_http_exception)
    app.add_exception_handler(RequestValidationError, _handle_validation_error)
    app.add_exception_handler(Exception, _handle_unexpected)
