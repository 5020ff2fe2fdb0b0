"""The mobile error, as domain code raises it: code, messages, what the app should do.

Nothing here knows a web framework: `error_responses` turns these into HTTP answers, and
installs the handlers that make every error of an app answer in this shape.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any


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


def validation_failed(
    problems: Iterable[Mapping[str, Any]], what: str = "input", whole: str = "body"
) -> ApiError:
    """422 VALIDATION_FAILED naming each field wrong, from pydantic's (or FastAPI's) list of
    errors; `what` names the input in the message, `whole` a problem with all of it."""
    fields = [
        {
            "field": ".".join(str(part) for part in problem.get("loc", ()) if part != "body"),
            "problem": problem.get("msg", "invalid"),
        }
        for problem in problems
    ]
    named = ", ".join(field["field"] or whole for field in fields)
    return ApiError(
        422,
        "VALIDATION_FAILED",
        f"invalid {what}: {named}",
        action=Action.FIX_INPUT,
        details={"fields": fields},
    )
