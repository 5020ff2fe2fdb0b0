"""Shapes every service uses in its contract."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar
from uuid import UUID

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


# --- batch reads (the BFF's DataLoaders) -----------------------------------------------------

# The most ids one batch read may name: past it, a 422 VALIDATION_FAILED (split the batch).
MAX_BATCH_IDS = 100


class BatchRead(Contract):
    """POST .../batch: the ids to read at once (1-100, repeats allowed). Only the acting
    user's come back: a missing id, or another user's, is simply absent from the answer."""

    ids: list[UUID] = Field(min_length=1, max_length=MAX_BATCH_IDS)


class Batch(Contract, Generic[T]):
    """What a batch read found, in no particular order (match them up by id)."""

    items: list[T]


# --- the change feed (services/kit/change_feed.py) ----------------------------------------

FeedOp = Literal["upsert", "delete"]
FEED_PATH = f"{INTERNAL_PREFIX}/feed"
MAX_FEED_PAGE = 1000


class FeedEntry(Contract):
    """The latest change of one entity: its state (`data`, the entity's contract) or its
    tombstone. `origin` is the device whose request made it, if a phone's."""

    seq: int
    kind: str
    id: str
    op: FeedOp
    data: dict[str, Any] | None = None
    origin: str | None = None
    at: datetime


class FeedPage(Contract):
    """GET /internal/v1/feed?since=&limit=&kind=&snapshot=: the acting user's entries after
    `since`, oldest first. Pass `next_since` back (with `snapshot=true` while paging through a
    snapshot). `reset`: `since` was behind the pruned tombstones (or past the feed), so this
    page starts a snapshot from 0: keep only what the snapshot brings, through `has_more` false.
    """

    entries: list[FeedEntry]
    next_since: int
    has_more: bool
    reset: bool = False
    last_seq: int
