"""The phone's view of sync: requests and answers of /api/v1/sync and /api/v1/sync/push."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, create_model

from bff.sync.entities import ENTITY_KINDS
from services.kit.paging import MAX_CURSOR_LENGTH

T = TypeVar("T")
MAX_SYNC_LIMIT = 1000


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SyncRequest(_Body):
    """What the phone has: its cursor (none on a first sync), the kinds it wants (all by
    default), and how many entries it takes at most in one answer."""

    cursor: str | None = Field(default=None, max_length=MAX_CURSOR_LENGTH)
    entities: list[str] | None = Field(default=None, max_length=len(ENTITY_KINDS))
    limit: int = Field(default=200, ge=1, le=MAX_SYNC_LIMIT)


class SyncItem(BaseModel, Generic[T]):
    """An entity's state: `version` is its place in its feed, the `base_version` a write to it
    from the offline queue names."""

    id: str
    version: int
    data: T


class EntityChanges(BaseModel, Generic[T]):
    upserts: list[SyncItem[T]] = []
    deletes: list[str] = []


# One optional field per synced kind, typed by its contract (for the compact representation).
SyncChanges = create_model(  # type: ignore[call-overload]
    "SyncChanges",
    __base__=BaseModel,
    **{kind.name: (EntityChanges[kind.contract] | None, None) for kind in ENTITY_KINDS},  # type: ignore[name-defined]
)


class SyncAnswer(BaseModel):
    """The changes since the cursor, oldest first per kind; pass `cursor` back next time,
    and again at once while `has_more`. `resets`: kinds being resnapshotted (keep only what
    this and the following answers upsert, through `has_more: false`). `unavailable`: kinds
    whose service did not answer; their part of the cursor stays where it was."""

    cursor: str
    has_more: bool
    changes: SyncChanges
    resets: list[str] = []
    unavailable: list[str] = []
