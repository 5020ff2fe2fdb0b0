"""Shapes every service uses in its contract."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")

# Where every service's internal API lives (a service token is required under it).
INTERNAL_PREFIX = "/internal/v1"

# Every integer a client sends must fit the databases' 64-bit columns: a larger one is a 422
# at the edge, never an overflow (a 500) inside.
INT64_MAX = 2**63 - 1
Count = Annotated[int, Field(ge=0, le=INT64_MAX)]  # 0 and up: sizes, seqs, row ids
Ordinal = Annotated[int, Field(ge=1, le=INT64_MAX)]  # 1 and up: versions


class Contract(BaseModel):
    """Base of every contract model: unknown fields are refused, so drift shows up at once."""

    model_config = ConfigDict(extra="forbid")


class Page(Contract, Generic[T]):
    """One page of a cursor-paginated list; pass `next_cursor` back as `cursor` for the next."""

    items: list[T]
    next_cursor: str | None = None
