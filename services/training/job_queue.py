"""The durable work queue: workers claim jobs from the jobs table under a renewable lease.

A claim reads a candidate, then, in a transaction that first takes the owner's change-feed
counter (services/kit/change_feed.py: every writer of a job its owner sees takes it before the
job's row, so no two wait on each other the other way round), a conditional UPDATE that only
matches the row as it was read (compare-and-set). Every claim bumps `attempts`, so a row
claimed by someone else in between no longer matches and the claimer tries the next one.
Replicas racing for one candidate queue on its owner's counter for a moment; a claim is one
short transaction per job.

Every change the owner sees (a status, the result, a tenth of the run: progress.py, the report
joining the result) is recorded in their change feed in the transaction that makes it; lease
renewals are not.

A job succeeds as soon as its model is registered; its report follows. Until the report is
stored the succeeded job keeps its worker's lease, so a worker that dies before then leaves a
claimable succeeded job whose report the next claimer computes (`REPORT_ATTEMPTS` tries; then
the result says the report could not be computed).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from proto.notifications import SendToUser
from services.kit.change_feed import ChangeWriter, change_writer
from services.kit.clock import utc_now
from services.kit.database import Database
from services.training import push_outbox, repository
from services.training.job_feed import record_job, to_contract
from services.training.repository import (
    FINISHED_STATUSES,
    held_by,
    lease_held_by,
    report_held_by,
    settle,
    update_lease,
)
from services.training.tables import FEED, Job

_CLAIM_TRIES = 5
# Claims of a succeeded job's report beyond its training's attempts, before it is given up.
REPORT_ATTEMPTS = 3
REPORT_FAILED = "the report could not be computed"


@dataclass(frozen=True, slots=True)
class LeaseState:
    """What a heartbeat learned: whether we still hold the job, and whether its owner cancelled."""

    held: bool
    cancel_requested: bool


async def claim_next(
    db: Database,
    worker_id: str,
    *,
    lease_s: float,
    max_attempts: int,
    now: datetime | None = None,
) -> Job | None:
    """Claim the oldest queued job, or a running one whose lease expired; None when there is none.

    An expired job that already used `max_attempts` is failed instead, and one whose owner asked
    to cancel is cancelled; then the next candidate is tried.
    """
    now = now or utc_now()
    for _ in range(_CLAIM_TRIES * 4):
        outcome = await _claim_once(db, worker_id, lease_s, max_attempts, now)
        if outcome is None:
            return None
        if isinstance(outcome, Job):
            return outcome
    return None


async def _claim_once(
    db: Database, worker_id: str, lease_s: float, max_attempts: int, now: datetime
) -> Job | bool | None:
    """A claimed job; True when the candidate was settled or lost to a race; None when empty."""
    async with db.session() as session:
        candidate = await repository.oldest_claimable(session, now)
    if candidate is None:
        return None
    async with (
        db.transaction() as session,
        change_writer(session, FEED, candidate.owner_id) as changes,
    ):
        return await _take(session, changes, candidate, worker_id, lease_s, max_attempts, now)


async def _take(
    session: AsyncSession,
    changes: ChangeWriter,
    candidate: Job,
    worker_id: str,
    lease_s: float,
    max_attempts: int,
    now: datetime,
) -> Job | bool:
    seen = to_contract(candidate)
    as_read = repository.as_read(candidate)
    if candidate.status == "succeeded":
        return await _take_report(
            session, changes, candidate, worker_id, lease_s, max_attempts, now
        )
    if candidate.status == "running" and candidate.cancel_requested:
        job = await settle(session, as_read, status="cancelled", finished_at=now, **_NO_LEASE)
    elif candidate.attempts >= max_attempts:
        error = (
            f"training stopped unexpectedly {candidate.attempts} times "
            f"(the limit is {max_attempts}); not trying again"
        )
        job = await settle(
            session, as_read, status="failed", finished_at=now, error=error, **_NO_LEASE
        )
    else:
        job = await settle(
            session,
            as_read,
            status="running",
            lease_owner=worker_id,
            lease_expires_at=now + timedelta(seconds=lease_s),
            attempts=Job.attempts + 1,
            started_at=candidate.started_at or now,
        )
        if job is None:
            return True
        if to_contract(job) != seen:  # not when claimed again after a lease ran out
            await record_job(changes, job)
        return job
    if job is not None:
        await record_job(changes, job)
    return True


_NO_LEASE: dict[str, Any] = {"lease_owner": None, "lease_expires_at": None}


async def _take_report(
    session: AsyncSession,
    changes: ChangeWriter,
    candidate: Job,
    worker_id: str,
    lease_s: float,
    max_attempts: int,
    now: datetime,
) -> Job | bool:
    """A succeeded job whose report was lost with its worker: claim the report's work, or,
    after `REPORT_ATTEMPTS` claims, say in its result that there will be no report."""
    as_read = repository.as_read(candidate)
    if candidate.attempts >= max_attempts + REPORT_ATTEMPTS:
        result = {**(candidate.result or {}), "report_error": REPORT_FAILED}
        job = await settle(session, as_read, result=result, report_ready_at=now, **_NO_LEASE)
        if job is not None:
            await record_job(changes, job)
        return True
    job = await settle(
        session,
        as_read,
        lease_owner=worker_id,
        lease_expires_at=now + timedelta(seconds=lease_s),
        attempts=Job.attempts + 1,
    )
    return True if job is None else job  # the owner sees nothing of a report claim


async def renew_lease(
    db: Database, job_id: uuid.UUID, worker_id: str, *, lease_s: float, now: datetime | None = None
) -> LeaseState:
    """Extend our lease on a running job; tells whether we still hold it and if cancel was asked."""
    now = now or utc_now()
    async with db.transaction() as session:
        held = await update_lease(
            session,
            lease_held_by(job_id, worker_id),
            lease_expires_at=now + timedelta(seconds=lease_s),
        )
        cancel = await repository.is_cancel_requested(session, job_id)
    return LeaseState(held=held, cancel_requested=cancel)


async def cancel_requested(
    db: Database, worker_id: str, job_ids: Collection[uuid.UUID]
) -> set[uuid.UUID]:
    """Which of these jobs, still running under our lease, their owners asked to cancel."""
    if not job_ids:
        return set()
    # By primary key, read-only: cheap enough to ask every second for all our running jobs.
    async with db.session() as session:
        return await repository.cancel_requested_among(session, worker_id, job_ids)


async def finish(
    db: Database,
    job_id: uuid.UUID,
    worker_id: str,
    status: str,
    *,
    now: datetime | None = None,
    push: SendToUser | None = None,
    report_lease_s: float | None = None,
    **values: Any,
) -> bool:
    """Settle a job we hold the lease of (succeeded, failed, cancelled); False if we lost it.
    `push`, if any, is owed to the owner from the same transaction (push_outbox). A job that
    succeeds with `report_lease_s` keeps our lease for its report (`add_report`); without it,
    a succeeded job's report is in `values`' result already."""
    if status not in FINISHED_STATUSES:
        raise ValueError(f"not a finished status: {status}")
    owner_id = await _owner_of(db, job_id)
    if owner_id is None:
        return False
    now = now or utc_now()
    lease = _NO_LEASE
    if status == "succeeded":
        if report_lease_s is None:
            values["report_ready_at"] = now
        else:
            lease = {
                "lease_owner": worker_id,
                "lease_expires_at": now + timedelta(seconds=report_lease_s),
            }
    async with db.transaction() as session, change_writer(session, FEED, owner_id) as changes:
        job = await settle(
            session,
            held_by(job_id, worker_id),
            status=status,
            finished_at=now,
            **lease,
            **values,
        )
        if job is None:
            return False
        await record_job(changes, job)
        if push is not None:
            push_outbox.enqueue(session, owner_id, push)
    return True


async def add_report(
    db: Database,
    job_id: uuid.UUID,
    worker_id: str,
    report: dict[str, Any],
    *,
    now: datetime | None = None,
) -> bool:
    """Add the report to the result of a succeeded job whose report lease we hold, and let
    the lease go; False if we lost it (another worker computes it, or did)."""
    owner_id = await _owner_of(db, job_id)
    if owner_id is None:
        return False
    async with db.transaction() as session, change_writer(session, FEED, owner_id) as changes:
        job = await repository.reload(session, job_id)
        if job is None:
            return False
        where = sa.and_(report_held_by(job_id, worker_id), Job.attempts == job.attempts)
        result = {**(job.result or {}), **report}
        settled = await settle(
            session, where, result=result, report_ready_at=now or utc_now(), **_NO_LEASE
        )
        if settled is None:
            return False
        await record_job(changes, settled)
    return True


async def append_events(
    db: Database,
    job_id: uuid.UUID,
    worker_id: str,
    attempt: int,
    steps: list[dict[str, Any]],
    *,
    milestone: bool = False,
    now: datetime | None = None,
) -> bool:
    """Store progress steps of a job we hold, numbered after the last; False if we lost it.
    A `milestone` (progress.py) moves the job's entry in its owner's change feed."""
    now = now or utc_now()
    owner_id = await _owner_of(db, job_id) if milestone else None
    async with db.transaction() as session:
        feed: contextlib.AbstractAsyncContextManager[ChangeWriter | None] = (
            change_writer(session, FEED, owner_id) if owner_id else contextlib.nullcontext()
        )
        async with feed as changes:
            held = await update_lease(session, held_by(job_id, worker_id), lease_owner=worker_id)
            if not held:
                return False
            first = await repository.last_event_seq(session, job_id) + 1
            repository.add_events(session, job_id, attempt, first, steps, now)
            if changes is not None:
                job = await repository.reload(session, job_id)
                assert job is not None
                await record_job(changes, job)
    return True


async def _owner_of(db: Database, job_id: uuid.UUID) -> str | None:
    """The job's owner (it never changes), read before a writing transaction, which must take
    the owner's counter first thing (on SQLite, a read first could not become a write after a
    concurrent commit)."""
    async with db.session() as session:
        return await repository.owner_of(session, job_id)
