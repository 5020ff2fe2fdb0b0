"""Shapes every service uses in its contract."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict

T = TypeVar("T")

# Where every service's internal API lives (a service token is required under it).
INTERNAL_PREFIX = "/internal/v1"


class Contract(BaseModel):
    """Base of every contract model: unknown fields are refused, so drift shows up at once."""

    model_config = ConfigDict(extra="forbid")


class Page(Contract, Generic[T]):
    """One page of a cursor-paginated list; pass `next_cursor` back as `cursor` for the next."""

    items: list[T]
    next_cursor: str | None = None
