"""Key maps of the compact format, derived from the response models of the routes.

A key map names, per resource (a pydantic model), each field's short key and value type:

    {"fields": {"created_at": {"k": "g", "t": "ts"}, "status": {"k": "c", "t": "enum",
     "values": ["queued", ...]}, "columns": {"k": "f", "t": "list", "of": {"t": "obj",
     "ref": "ColumnSchema"}, "e": []}}}

Types: "raw" (as JSON), "ts" (epoch microseconds), "uuid" (22-char base64url), "enum" (index
into "values"), "obj" (a nested resource), "list" and "map" (of an inner spec). "e", when
present, is the value that is dropped from the payload and restored by the decoder.
Keys follow the declaration order of the fields, so adding a field at the end keeps the keys of
the others; the map's "version" changes with any change.
"""

from __future__ import annotations

import enum
import hashlib
import types
import typing
from datetime import datetime
from string import ascii_lowercase
from typing import Any, Literal
from uuid import UUID

import orjson
from pydantic import BaseModel

Spec = dict[str, Any]
KeyMap = dict[str, Any]


def short_key(index: int) -> str:
    """a, b, ... z, ba, bb, ... : the shortest keys, in order."""
    letters = ascii_lowercase
    if index < len(letters):
        return letters[index]
    return short_key(index // len(letters)) + letters[index % len(letters)]


def resource_name(model: type[BaseModel]) -> str:
    """The name a resource is published under (the model's name, e.g. `Page[Dataset]`)."""
    return model.__name__


class KeyMapBuilder:
    """Collects the key maps of a set of models and everything they nest."""

    def __init__(self) -> None:
        self.resources: dict[str, Spec] = {}
        self.models: dict[str, type[BaseModel]] = {}

    def add(self, model: type[BaseModel]) -> str:
        """Add a model (and its nested models); its resource name."""
        name = resource_name(model)
        if name in self.resources:
            return name
        self.resources[name] = {"fields": {}}  # placeholder first: models may nest themselves
        self.models[name] = model
        fields: dict[str, Spec] = {}
        for index, (field_name, info) in enumerate(model.model_fields.items()):
            key = info.serialization_alias or info.alias or field_name
            spec = {"k": short_key(index), **self.spec(info.annotation)}
            fields[key] = spec
        self.resources[name] = {"fields": fields}
        return name

    def spec(self, annotation: Any) -> Spec:
        """The value spec of a type annotation (with "e" when empty values are dropped)."""
        inner, nullable = _strip_optional(annotation)
        spec = self._value_spec(inner)
        if nullable:
            spec["e"] = None
        elif spec["t"] == "list":
            spec["e"] = []
        elif spec["t"] == "map" or (spec["t"] == "raw" and _origin(inner) is dict):
            spec["e"] = {}
        elif inner is str:
            spec["e"] = ""
        return spec

    def _value_spec(self, annotation: Any) -> Spec:
        origin = _origin(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return {"t": "obj", "ref": self.add(annotation)}
        if annotation is datetime:
            return {"t": "ts"}
        if annotation is UUID:
            return {"t": "uuid"}
        if origin is Literal:
            return {"t": "enum", "values": list(typing.get_args(annotation))}
        if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
            return {"t": "enum", "values": [member.value for member in annotation]}
        if origin in (list, tuple, set, frozenset):
            args = tuple(a for a in typing.get_args(annotation) if a is not Ellipsis)
            of = self.spec(args[0]) if len(args) == 1 else {"t": "raw"}
            return {"t": "list", "of": _without_empty(of)} if origin is list else {"t": "raw"}
        if origin is dict:
            args = typing.get_args(annotation)
            of = _without_empty(self.spec(args[1])) if len(args) == 2 else {"t": "raw"}
            return {"t": "map", "of": of} if of["t"] != "raw" else {"t": "raw"}
        return {"t": "raw"}


def _origin(annotation: Any) -> Any:
    return typing.get_origin(annotation)


def _strip_optional(annotation: Any) -> tuple[Any, bool]:
    if _origin(annotation) in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        rest = [a for a in args if a is not type(None)]
        nullable = len(rest) < len(args)
        if len(rest) == 1:
            return rest[0], nullable
        return typing.Union[tuple(rest)], nullable  # noqa: UP007 - built from a tuple
    return annotation, annotation is Any


def _without_empty(spec: Spec) -> Spec:
    # Inside lists and maps every element is kept: a dropped element would shift the others.
    return {name: value for name, value in spec.items() if name != "e"}


def publish(resources: dict[str, Spec]) -> KeyMap:
    """The document served at /schema/keys: every resource's map with its version."""
    published = {
        name: {"version": _digest(spec), **spec} for name, spec in sorted(resources.items())
    }
    return {
        "format": "tern.compact/2",
        "version": _digest(published),
        # How lists of objects are coded (see columns.py); a new coding bumps the format.
        "columns": {
            "layout": "column-major",
            "ts": "delta, or relative to the base named in _r",
            "optional": ["_s", "_m", "_r", "_n"],
        },
        "resources": published,
    }


def _digest(value: object) -> str:
    return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()[:12]
