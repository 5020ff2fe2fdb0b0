"""Reading the plain JSON values of a service's answer into GraphQL fields."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry


def as_datetime(value: str) -> datetime:
    """An RFC 3339 timestamp of a service's answer."""
    return datetime.fromisoformat(value)


def as_optional_datetime(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def as_id(value: Any) -> strawberry.ID:
    return strawberry.ID(str(value))


def as_optional_id(value: Any) -> strawberry.ID | None:
    return None if value is None else strawberry.ID(str(value))
