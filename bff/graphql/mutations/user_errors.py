"""What every mutation does with its input and its errors: the input is checked with the same
pydantic contract as the REST body; an error the user can fix (a bad input, an id that is not
theirs, a conflict) comes back as typed `userErrors` in the payload, while the others (auth,
a service down, rate limits) stay GraphQL errors with `extensions.code`."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from strawberry.types.unset import UNSET
from strawberry.utils.str_converters import to_camel_case

from bff.graphql.types.user_error import UserError
from services.kit.errors import Action, ApiError, validation_failed

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

INPUT = "input"
"""The argument every mutation takes its input in."""

# Not found (an id of someone else's is not found either), conflicts, bad input, too large.
_USER_ERROR_STATUSES = frozenset({400, 404, 409, 413, 422})

FieldsByCode = Mapping[str, Sequence[str]]
"""The input field (snake_case, as in the contract) that an error code is about."""


def is_user_error(error: ApiError) -> bool:
    """Whether the user can fix it by changing what they asked: not a retry, not a sign-in."""
    return (
        error.status in _USER_ERROR_STATUSES
        and not error.retry_allowed
        and error.action != Action.RETRY
    )


def user_errors_of(error: ApiError, fields: FieldsByCode | None = None) -> list[UserError]:
    """The typed user errors of an ApiError: one per field for VALIDATION_FAILED."""
    problems = (error.details or {}).get("fields") if error.code == "VALIDATION_FAILED" else None
    if problems:
        return [
            UserError(
                code=error.code,
                message=f"{problem['field'] or INPUT}: {problem['problem']}",
                field=field_path(problem["field"].split(".") if problem["field"] else []),
            )
            for problem in problems
        ]
    field = (fields or {}).get(error.code)
    return [
        UserError(
            code=error.code,
            message=error.message,
            field=field_path(field) if field is not None else None,
        )
    ]


def field_path(parts: Sequence[str]) -> list[str]:
    """A contract's field location as the input's GraphQL path: ["input", "datasetId"]."""
    return [INPUT, *(to_camel_case(part) for part in parts)]


async def attempt(
    call: Callable[[], Awaitable[T]], fields: FieldsByCode | None = None
) -> T | list[UserError]:
    """The call's result, or the user errors it raised; any other error goes through."""
    try:
        return await call()
    except ApiError as exc:
        if not is_user_error(exc):
            raise
        return user_errors_of(exc, fields)


def contract(model: type[M], values: Mapping[str, Any]) -> M:
    """`values` checked as `model` (a proto contract): 422 VALIDATION_FAILED naming the fields."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise validation_failed(exc.errors()) from exc


def input_values(value: Any) -> Any:
    """A strawberry input as plain values, the fields it left out (UNSET) left out too, so
    the contract's defaults apply."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            field.name: input_values(getattr(value, field.name))
            for field in dataclasses.fields(value)
            if getattr(value, field.name) is not UNSET
        }
    if isinstance(value, list):
        return [input_values(item) for item in value]
    return value
