"""Reading the plain JSON values of a service's answer into GraphQL fields."""

from __future__ import annotations

from datetime import datetime
from operator import itemgetter
from typing import Any

import strawberry

from bff.graphql.types.json_backed import Reader
from bff.graphql.types.node import to_global_id


def as_datetime(value: str) -> datetime:
    """An RFC 3339 timestamp of a service's answer."""
    return datetime.fromisoformat(value)


def as_optional_datetime(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def as_id(value: Any) -> strawberry.ID:
    return strawberry.ID(str(value))


def as_optional_id(value: Any) -> strawberry.ID | None:
    return None if value is None else strawberry.ID(str(value))


def catalog_entry_readers(type_name: str) -> dict[str, Reader]:
    """How the fields a dataset and a model share (ids, name, latest version, timestamps) are
    read from the service's JSON (json_backed.py); each type adds its own."""
    return {
        "id": lambda entry: as_id(entry["id"]),
        "global_id": lambda entry: to_global_id(type_name, entry["id"]),
        "name": itemgetter("name"),
        "latest_version": itemgetter("latest_version"),
        "created_at": lambda entry: as_datetime(entry["created_at"]),
        "updated_at": lambda entry: as_datetime(entry["updated_at"]),
    }
