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


def catalog_entry_fields(entry: dict[str, Any]) -> dict[str, Any]:
    """The fields a dataset and a model share (id, name, latest version, timestamps), read
    from the service's JSON; each type adds its own."""
    return {
        "id": as_id(entry["id"]),
        "name": entry["name"],
        "latest_version": entry["latest_version"],
        "created_at": as_datetime(entry["created_at"]),
        "updated_at": as_datetime(entry["updated_at"]),
    }
