"""POST /api/v1/sync/push: the phone's offline queue, replayed.

Each mutation is applied once per (user, device, mutation_id), kept for the idempotency
store's retention (7 days by default): a replay answers `duplicate` with what the first
answered. Mutations apply in the order sent; one that cannot be applied now (a service down)
stops the rest, which come back `rejected` and retryable, so a later one never overtakes it.

Conflict rules, per entity (the contract states them):
- labels: a write based on an older revision merges field by field with what the server
  holds (three-way, from the `base` the edit started from); a field both changed is a
  conflict, answered with the server's state and nothing written;
- push_preferences: the fields sent win, in the order the server receives them;
- notifications: `read` only: read state moves forward, a stale phone never unreads;
- datasets: `delete` (deleting a deleted one is applied again, harmlessly);
- topic_subscriptions: `upsert` follows a topic on one of the user's devices, `delete` stops;
- training_jobs: `cancel`; their status, progress and results are the server's;
- everything else is the server's: `rejected` with SERVER_OWNED_ENTITY.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bff.clients import ServiceClients
from bff.idempotency.store import Claimed, IdempotencyStore, InFlight, Mismatch, Replay
from bff.known_versions import KnownVersions
from bff.sync.entities import BY_NAME
from bff.sync.merge import LABEL_FIELDS, merge_fields
from proto.datasets import LabelBatch, LabelWrite
from proto.notifications import Preferences
from services.kit.errors import ApiError
from services.kit.http_client import DownstreamUnavailable

MutationStatus = Literal["applied", "duplicate", "conflict", "rejected"]
_ID_PATTERN = r"^[A-Za-z0-9._:\-]{1,128}$"


class Mutation(BaseModel):
    """One queued write: `id` names the entity as sync gave it; `base_version` (labels: the
    revision the edit started from) and `base` (its fields then) let a stale write merge."""

    model_config = ConfigDict(extra="forbid")

    mutation_id: str = Field(pattern=_ID_PATTERN)
    entity: str = Field(max_length=40)
    op: str = Field(max_length=20)
    id: str = Field(min_length=1, max_length=300)
    data: dict[str, Any] | None = None
    base: dict[str, Any] | None = None
    base_version: int | None = Field(default=None, ge=0, le=2**63 - 1)
    client_ts: datetime | None = None


class MutationError(BaseModel):
    code: str
    message: str
    retryable: bool = False


class MutationResult(BaseModel):
    mutation_id: str
    status: MutationStatus
    server_version: int | None = None
    server_state: dict[str, Any] | None = None
    error: MutationError | None = None


@dataclass(frozen=True, slots=True)
class PushContext:
    clients: ServiceClients
    known: KnownVersions
    store: IdempotencyStore
    user_id: str
    device_id: str


class _Rejected(Exception):
    def __init__(self, code: str, message: str, retryable: bool = False) -> None:
        super().__init__(message)
        self.error = MutationError(code=code, message=message, retryable=retryable)


Applier = Callable[[PushContext, Mutation], Awaitable[MutationResult]]


# One device's pushes run one at a time in this process, so two calls of one queue (a retry
# racing the original) cannot interleave; across replicas the idempotency claims keep each
# mutation to one run.
_DEVICE_LOCKS: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = (
    weakref.WeakValueDictionary()
)


async def push(ctx: PushContext, mutations: list[Mutation]) -> list[MutationResult]:
    """Apply the mutations in order; one result per mutation."""
    key = (ctx.user_id, ctx.device_id)
    lock = _DEVICE_LOCKS.get(key)
    if lock is None:
        lock = _DEVICE_LOCKS[key] = asyncio.Lock()
    async with lock:
        return await _push_in_order(ctx, mutations)


async def _push_in_order(ctx: PushContext, mutations: list[Mutation]) -> list[MutationResult]:
    results: list[MutationResult] = []
    blocked: MutationResult | None = None
    for mutation in mutations:
        if blocked is not None:
            results.append(
                _rejected(
                    mutation,
                    "BLOCKED_BY_EARLIER",
                    f"not applied: {blocked.mutation_id} before it must apply first",
                    retryable=True,
                )
            )
            continue
        result = await _apply_once(ctx, mutation)
        if result.status == "rejected" and result.error is not None and result.error.retryable:
            blocked = result
        results.append(result)
    return results


async def _apply_once(ctx: PushContext, mutation: Mutation) -> MutationResult:
    fingerprint = hashlib.sha256(
        orjson.dumps(
            mutation.model_dump(mode="json", exclude={"client_ts"}), option=orjson.OPT_SORT_KEYS
        )
    ).hexdigest()
    claim = await ctx.store.claim(
        ctx.user_id, f"sync:{ctx.device_id}", mutation.mutation_id, fingerprint
    )
    if isinstance(claim, Replay):
        first = MutationResult.model_validate_json(claim.body)
        return first.model_copy(update={"status": "duplicate"})
    if isinstance(claim, Mismatch):
        return _rejected(
            mutation, "MUTATION_ID_REUSED", "this mutation_id was used for another mutation"
        )
    if isinstance(claim, InFlight):
        return _rejected(
            mutation, "MUTATION_IN_FLIGHT", "this mutation is being applied", retryable=True
        )
    return await _run(ctx, mutation, claim)


async def _run(ctx: PushContext, mutation: Mutation, claim: Claimed) -> MutationResult:
    try:
        async with ctx.store.holding(claim):
            result = await _applier(mutation)(ctx, mutation)
    except _Rejected as exc:
        result = MutationResult(
            mutation_id=mutation.mutation_id, status="rejected", error=exc.error
        )
    except DownstreamUnavailable as exc:
        result = _rejected(mutation, "SERVICE_UNAVAILABLE", str(exc), retryable=True)
    except ApiError as exc:  # the service refused it: a 4xx, final
        result = _rejected(mutation, exc.code, exc.message)
    if result.status == "applied":  # what a replay answers; the others are decided anew
        await ctx.store.complete(claim, 200, (), result.model_dump_json().encode())
    else:
        await ctx.store.release(claim)
    return result


def _applier(mutation: Mutation) -> Applier:
    kind = BY_NAME.get(mutation.entity)
    if kind is None:
        raise _Rejected("UNKNOWN_ENTITY", f"{mutation.entity!r} is not a synced entity")
    appliers = _APPLIERS.get(mutation.entity)
    if appliers is None:
        raise _Rejected(
            "SERVER_OWNED_ENTITY",
            f"{mutation.entity} are written by the server only; sync them instead",
        )
    applier = appliers.get(mutation.op)
    if applier is None:
        raise _Rejected(
            "UNSUPPORTED_OP",
            f"{mutation.entity} take {', '.join(sorted(appliers))}, not {mutation.op!r}",
        )
    return applier


def _rejected(
    mutation: Mutation, code: str, message: str, *, retryable: bool = False
) -> MutationResult:
    return MutationResult(
        mutation_id=mutation.mutation_id,
        status="rejected",
        error=MutationError(code=code, message=message, retryable=retryable),
    )


def _applied(mutation: Mutation, version: int | None, state: BaseModel | None) -> MutationResult:
    return MutationResult(
        mutation_id=mutation.mutation_id,
        status="applied",
        server_version=version,
        server_state=state.model_dump(mode="json") if state is not None else None,
    )


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise _Rejected("INVALID_ID", f"{value!r} is not an id of this entity") from exc


# --- labels: three-way merge -------------------------------------------------------------


async def _write_label(ctx: PushContext, mutation: Mutation) -> MutationResult:
    dataset, version, row = _label_id(mutation.id)
    mine = mutation.data or {}
    if not set(mine) <= {"label", "note"} or not mine:
        raise _Rejected("INVALID_LABEL", "a label write sends `label` and/or `note`")
    if mutation.base is None and set(mine) != set(LABEL_FIELDS):
        raise _Rejected("INVALID_LABEL", "send both `label` and `note`, or the `base` edited")
    base_revision = mutation.base_version or 0
    current = {field: (mutation.base or {}).get(field) for field in LABEL_FIELDS}
    for _ in range(2):  # once as sent; once more merged onto what the server held
        merged = {**current, **mine}
        try:
            write = LabelWrite(row_id=row, base_revision=base_revision, **merged)
        except ValidationError as exc:
            raise _Rejected("INVALID_LABEL", exc.errors()[0]["msg"]) from exc
        answer = await ctx.clients.datasets.upsert_labels(
            ctx.user_id, dataset, version, LabelBatch(labels=[write])
        )
        if answer.applied:
            label = answer.applied[0]
            return _applied(mutation, label.revision, label)
        theirs = answer.conflicts[0].current
        state = theirs.model_dump(mode="json") if theirs is not None else None
        resolved = merge_fields(mutation.base, mine, state or {"label": None, "note": None})
        if resolved is None:
            return MutationResult(
                mutation_id=mutation.mutation_id,
                status="conflict",
                server_version=theirs.revision if theirs is not None else 0,
                server_state=state,
                error=MutationError(
                    code="LABEL_CONFLICT",
                    message="the label changed on the server since this edit's base",
                ),
            )
        current = resolved
        base_revision = theirs.revision if theirs is not None else 0
    return MutationResult(  # a third writer raced both attempts: the phone tries again
        mutation_id=mutation.mutation_id,
        status="conflict",
        error=MutationError(code="LABEL_CONFLICT", message="the label kept changing"),
    )


def _label_id(entity_id: str) -> tuple[uuid.UUID, int, int]:
    parts = entity_id.split("/")
    if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
        raise _Rejected("INVALID_ID", "a label's id is <dataset id>/<version>/<row id>")
    return _uuid(parts[0]), int(parts[1]), int(parts[2])


# --- the others ----------------------------------------------------------------------------


async def _write_preferences(ctx: PushContext, mutation: Mutation) -> MutationResult:
    current = await ctx.clients.notifications.get_preferences(ctx.user_id)
    try:
        wanted = Preferences.model_validate(current.model_dump() | (mutation.data or {}))
    except ValidationError as exc:
        raise _Rejected("INVALID_PREFERENCES", exc.errors()[0]["msg"]) from exc
    saved = await ctx.clients.notifications.put_preferences(ctx.user_id, wanted)
    return _applied(mutation, ctx.known.current("notifications", ctx.user_id), saved)


async def _read_notification(ctx: PushContext, mutation: Mutation) -> MutationResult:
    read = await ctx.clients.notifications.mark_read(ctx.user_id, _uuid(mutation.id))
    return _applied(mutation, ctx.known.current("notifications", ctx.user_id), read)


async def _delete_dataset(ctx: PushContext, mutation: Mutation) -> MutationResult:
    await ctx.clients.datasets.delete_dataset(ctx.user_id, _uuid(mutation.id))
    return _applied(mutation, ctx.known.current("datasets", ctx.user_id), None)


def _subscription_id(entity_id: str) -> tuple[str, str]:
    device, _, topic = entity_id.partition("/")
    if not device or not topic:
        raise _Rejected("INVALID_ID", "a topic subscription's id is <device id>/<topic>")
    return device, topic


async def _follow_topic(ctx: PushContext, mutation: Mutation) -> MutationResult:
    device, topic = _subscription_id(mutation.id)
    followed = await ctx.clients.notifications.subscribe(ctx.user_id, device, topic)
    return _applied(mutation, ctx.known.current("notifications", ctx.user_id), followed)


async def _unfollow_topic(ctx: PushContext, mutation: Mutation) -> MutationResult:
    device, topic = _subscription_id(mutation.id)
    try:
        await ctx.clients.notifications.unsubscribe(ctx.user_id, device, topic)
    except ApiError as exc:
        if exc.status != 404:  # already not followed: what the phone wanted
            raise
    return _applied(mutation, ctx.known.current("notifications", ctx.user_id), None)


async def _cancel_job(ctx: PushContext, mutation: Mutation) -> MutationResult:
    job = await ctx.clients.training.cancel_job(ctx.user_id, _uuid(mutation.id))
    return _applied(mutation, ctx.known.current("training", ctx.user_id), job)


_APPLIERS: dict[str, dict[str, Applier]] = {
    "labels": {"upsert": _write_label},
    "push_preferences": {"upsert": _write_preferences},
    "notifications": {"read": _read_notification},
    "datasets": {"delete": _delete_dataset},
    "topic_subscriptions": {"upsert": _follow_topic, "delete": _unfollow_topic},
    "training_jobs": {"cancel": _cancel_job},
}
