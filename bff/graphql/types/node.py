"""Relay's `Node`: every object with an id answers a global id (base64 of "Type:id") as
`globalId`, which `node(id:)` on Query reads back.

`id` keeps its meaning: the service's own id (a uuid), which phones already send to REST routes
and mutations. So the Node field is `globalId`, not `id`: a Relay client sets
`schemaConfig.nodeInterfaceIdField: "globalId"` (relay.config.js) and normalizes on it;
Apollo and other clients need nothing."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

import strawberry

from services.kit.errors import Action, ApiError

# The longest global id we emit is ~90 characters; anything far past it is not ours.
_MAX_GLOBAL_ID_LENGTH = 256


@strawberry.interface(
    description="An object that can be fetched again by its `globalId` through `node(id:)`."
)
class Node:
    global_id: strawberry.ID = strawberry.field(
        description="The global id: opaque, unique across types; pass it to `node(id:)`. "
        "(`id`, where a type has one, is the service's own id.)"
    )


@dataclass(frozen=True, slots=True)
class GlobalId:
    """What a global id names: the GraphQL type and that type's own id."""

    type_name: str
    raw_id: str


def to_global_id(type_name: str, raw_id: object) -> strawberry.ID:
    """The global id of `raw_id` of `type_name` (base64 of "Type:id", as Relay writes it)."""
    return strawberry.ID(base64.b64encode(f"{type_name}:{raw_id}".encode()).decode())


def from_global_id(value: str) -> GlobalId:
    """The type and id a global id names; 422 INVALID_ID for anything we did not emit."""
    try:
        if len(value) > _MAX_GLOBAL_ID_LENGTH:
            raise ValueError("too long")
        decoded = base64.b64decode(value, validate=True).decode()
    except (ValueError, binascii.Error) as exc:
        raise invalid_id(value) from exc
    type_name, _, raw_id = decoded.partition(":")
    if not type_name or not raw_id:
        raise invalid_id(value)
    return GlobalId(type_name, raw_id)


def invalid_id(value: str) -> ApiError:
    """422 INVALID_ID: not a global id this API gave out."""
    shown = value if len(value) <= 64 else f"{value[:64]}..."
    return ApiError(422, "INVALID_ID", f"{shown!r} is not a global id", action=Action.FIX_INPUT)
