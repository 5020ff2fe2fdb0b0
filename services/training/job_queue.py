"""The durable work queue: workers claim jobs from the jobs table under a renewable lease.

PostgreSQL: `SELECT ... FOR UPDATE SKIP LOCKED`, then the claim, in one transaction, so many
replicas pull from one table without waiting on each other. SQLite: read a candidate, then a
conditional UPDATE that only matches the row as it was read (compare-and-set); every claim bumps
`attempts`, so a row claimed by someone else in between no longer matches.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.kit.clock import utc_now
from services.kit.database import Database
from services.training import repository
from services.training.repository import FINISHED_STATUSES, held_by, settle, update_lease
from services.training.tables import Job

_CLAIM_TRIES = 5


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
    if db.is_sqlite:
        async with db.session() as session:
            candidate = await repository.oldest_claimable(session, now, lock=False)
        if candidate is None:
            return None
        async with db.transaction() as session:
            return await _take(session, candidate, worker_id, lease_s, max_attempts, now)
    async with db.transaction() as session:
        candidate = await repository.oldest_claimable(session, now, lock=True)
        if candidate is None:
            return None
        return await _take(session, candidate, worker_id, lease_s, max_attempts, now)


async def _take(
    session: AsyncSession,
    candidate: Job,
    worker_id: str,
    lease_s: float,
    max_attempts: int,
    now: datetime,
) -> Job | bool:
    as_read = repository.as_read(candidate)
    if candidate.status == "running" and candidate.cancel_requested:
        await settle(session, as_read, status="cancelled", finished_at=now, **_NO_LEASE)
        return True
    if candidate.attempts >= max_attempts:
        error = (
            f"training stopped unexpectedly {candidate.attempts} times "
            f"(the limit is {max_attempts}); not trying again"
        )
        await settle(session, as_read, status="failed", finished_at=now, error=error, **_NO_LEASE)
        return True
    claimed = await settle(
        session,
        as_read,
        status="running",
        lease_owner=worker_id,
        lease_expires_at=now + timedelta(seconds=lease_s),
        attempts=Job.attempts + 1,
        started_at=candidate.started_at or now,
    )
    if not claimed:
        return True
    job = await repository.reload(session, candidate.id)
    assert job is not None
    return job


_NO_LEASE: dict[str, Any] = {"lease_owner": None, "lease_expires_at": None}


async def renew_lease(
    db: Database, job_id: uuid.UUID, worker_id: str, *, lease_s: float, now: datetime | None = None
) -> LeaseState:
    """Extend our lease on a running job; tells whether we still hold it and if cancel was asked."""
    now = now or utc_now()
    async with db.transaction() as session:
        held = await update_lease(
            session,
            held_by(job_id, worker_id),
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
    **values: Any,
) -> bool:
    """Settle a job we hold the lease of (succeeded, failed, cancelled); False if we lost it."""
    if status not in FINISHED_STATUSES:
        raise ValueError(f"not a finished status: {status}")
    async with db.transaction() as session:
        return await settle(
            session,
            held_by(job_id, worker_id),
            status=status,
            finished_at=now or utc_now(),
            **_NO_LEASE,
            **values,
        )


async def append_events(
    db: Database,
    job_id: uuid.UUID,
    worker_id: str,
    attempt: int,
    steps: list[dict[str, Any]],
    *,
    now: datetime | None = None,
) -> bool:
    """Store progress steps of a job we hold, numbered after the last; False if we lost it."""
    now = now or utc_now()
    async with db.transaction() as session:
        held = await update_lease(session, held_by(job_id, worker_id), lease_owner=worker_id)
        if not held:
            return False
        first = await repository.last_event_seq(session, job_id) + 1
        repository.add_events(session, job_id, attempt, first, steps, now)
    return True
