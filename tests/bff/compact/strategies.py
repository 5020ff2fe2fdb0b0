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
