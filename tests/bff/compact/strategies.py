"""Hypothesis strategies for any pydantic model, walked from its annotations (proto models)."""

from __future__ import annotations

import enum
import types
import typing
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

from hypothesis import strategies as st
from pydantic import BaseModel

from bff.compact.fields import page_item_spec

_JSON_SCALARS = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=8)
_JSON = st.recursive(
    _JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


def for_model(model: type[BaseModel]) -> st.SearchStrategy[dict[str, Any]]:
    """Field values of `model` (by field name): required ones always, optional ones sometimes."""
    required: dict[str, st.SearchStrategy[Any]] = {}
    optional: dict[str, st.SearchStrategy[Any]] = {}
    for name, info in model.model_fields.items():
        strategy = for_type(info.annotation, _constraints(info.metadata))
        (required if info.is_required() else optional)[name] = strategy
    return st.fixed_dictionaries(required, optional=optional)


def _constraints(metadata: list[Any]) -> dict[str, Any]:
    """Field(...) bounds as plain names: min_length, max_length, ge, le, gt, lt, pattern."""
    found: dict[str, Any] = {}
    for item in metadata:
        for name in ("min_length", "max_length", "ge", "le", "gt", "lt", "pattern"):
            value = getattr(item, name, None)
            if value is not None:
                found[name] = value
    return found


def for_type(annotation: Any, bounds: dict[str, Any] | None = None) -> st.SearchStrategy[Any]:
    """Values of one annotation (within Field bounds), as a model accepts them."""
    bounds = bounds or {}
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return for_model(annotation)
    if origin in (typing.Union, types.UnionType):
        return st.one_of([for_type(arg, bounds) for arg in args])
    if origin is Literal:
        return st.sampled_from(args)
    if origin in (list, tuple, set, frozenset):
        low = bounds.get("min_length", 0)
        return st.lists(
            for_type(args[0]) if args else _JSON,
            min_size=low,
            max_size=max(low, min(3, bounds.get("max_length", 3))),
        )
    if origin is dict:
        values = for_type(args[1]) if len(args) == 2 else _JSON
        return st.dictionaries(st.text(max_size=8), values, max_size=3)
    return _scalar(annotation, bounds)


def _scalar(annotation: Any, bounds: dict[str, Any]) -> st.SearchStrategy[Any]:
    if annotation is str and "pattern" in bounds:
        return st.from_regex(bounds["pattern"], fullmatch=True)
    if annotation is str:
        low = bounds.get("min_length", 0)
        return st.text(min_size=low, max_size=max(low, min(12, bounds.get("max_length", 12))))
    if annotation is int:
        low = bounds.get("ge", bounds["gt"] + 1 if "gt" in bounds else -(2**53))
        high = bounds.get("le", bounds["lt"] - 1 if "lt" in bounds else 2**53)
        return st.integers(low, high)
    if annotation is float:
        return st.floats(
            min_value=bounds.get("ge", bounds.get("gt")),
            max_value=bounds.get("le", bounds.get("lt")),
            exclude_min="gt" in bounds,
            exclude_max="lt" in bounds,
            allow_nan=False,
            allow_infinity=False,
        )
    if annotation is type(None):
        return st.none()
    if annotation is datetime:
        return st.datetimes(
            min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
        )
    if annotation is UUID:
        return st.uuids()
    if annotation is bool:
        return st.booleans()
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return st.sampled_from(list(annotation))
    return _JSON


def selections(
    spec: dict[str, Any], resources: dict[str, Any], value: Any
) -> st.SearchStrategy[list[str]]:
    """`fields` a client could send for `value` (of type `spec`): 1-6 paths, nested ones too."""
    item = page_item_spec(spec, resources)
    if item is not None:  # on a page the paths select inside each item
        spec, value = item, (value or {}).get("items", [])
    paths = field_paths(spec, resources, value)
    return st.lists(st.sampled_from(paths), min_size=1, max_size=6, unique=True)


def field_paths(
    spec: dict[str, Any], resources: dict[str, Any], value: Any, depth: int = 3
) -> list[str]:
    """Every key-map path below `spec` (to `depth`), and the keys of free-form maps in `value`."""
    spec = _element(spec)
    if depth == 0 or spec["t"] != "obj":
        return []
    rows = _objects(value)
    paths: list[str] = []
    for name, field in resources[spec["ref"]]["fields"].items():
        paths.append(name)
        inner = _element(field)
        children = [row.get(name) for row in rows]
        if inner["t"] == "obj":
            below = field_paths(inner, resources, children, depth - 1)
        elif inner["t"] in ("map", "raw"):
            # Any key may be named inside a free-form map, also one that no row holds.
            keys = {key for child in _objects(children) for key in child if _nameable(key)}
            below = [*sorted(keys), "absent"]
        else:
            below = []
        paths.extend(f"{name}.{path}" for path in below)
    return paths


def _nameable(key: str) -> bool:
    """Whether a map key can be written in a `fields` parameter."""
    return bool(key) and key == key.strip() and not {".", ","} & set(key)


def _element(spec: dict[str, Any]) -> dict[str, Any]:
    while spec["t"] == "list":
        spec = spec["of"]
    return spec


def _objects(value: Any) -> list[dict[str, Any]]:
    """The objects in `value`, looking through nested lists."""
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        return [found for item in value for found in _objects(item)]
    return []
