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

import sqlalchemy as sa
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from services.kit import change_versions
from services.kit.clock import utc_now
from services.kit.database import Database
from services.training.tables import Job, JobEvent, change_counters

FINISHED_STATUSES = frozenset({"succeeded", "failed", "cancelled"})
_CLAIM_TRIES = 5


@dataclass(frozen=True, slots=True)
class LeaseState:
    """What a heartbeat learned: whether we still hold the job, and whether its owner cancelled."""

    held: bool
    cancel_requested: bool


def _claimable(now: datetime) -> sa.ColumnElement[bool]:
    expired = sa.and_(Job.status == "running", Job.lease_expires_at < now)
    return sa.or_(Job.status == "queued", expired)


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
    query = sa.select(Job).where(_claimable(now)).order_by(Job.created_at, Job.id).limit(1)
    if db.is_sqlite:
        async with db.session() as session:
            candidate = (await session.execute(query)).scalar_one_or_none()
        if candidate is None:
            return None
        async with db.transaction() as session:
            return await _take(session, candidate, worker_id, lease_s, max_attempts, now)
    async with db.transaction() as session:
        locked = query.with_for_update(skip_locked=True)
        candidate = (await session.execute(locked)).scalar_one_or_none()
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
    as_read = sa.and_(
        Job.id == candidate.id,
        Job.status == candidate.status,
        Job.attempts == candidate.attempts,
    )
    if candidate.status == "running" and candidate.cancel_requested:
        await _settle(session, as_read, status="cancelled", finished_at=now, **_NO_LEASE)
        return True
    if candidate.attempts >= max_attempts:
        error = (
            f"training stopped unexpectedly {candidate.attempts} times "
            f"(the limit is {max_attempts}); not trying again"
        )
        await _settle(session, as_read, status="failed", finished_at=now, error=error, **_NO_LEASE)
        return True
    claimed = await _settle(
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
    job = await session.get(Job, candidate.id, populate_existing=True)
    assert job is not None
    return job


_NO_LEASE: dict[str, Any] = {"lease_owner": None, "lease_expires_at": None}


async def _update(session: AsyncSession, where: sa.ColumnElement[bool], **values: Any) -> bool:
    """An update the job's owner does not see (its lease); whether it applied."""
    statement = sa.update(Job).where(where).values(**values)
    result = await session.execute(statement, execution_options={"synchronize_session": False})
    assert isinstance(result, CursorResult)
    return bool(result.rowcount == 1)


async def _settle(session: AsyncSession, where: sa.ColumnElement[bool], **values: Any) -> bool:
    """An update the job's owner sees (status, result): it moves their change version on."""
    statement = sa.update(Job).where(where).values(**values).returning(Job.owner_id)
    result = await session.execute(statement, execution_options={"synchronize_session": False})
    owners = result.scalars().all()
    for owner in set(owners):
        await change_versions.bump(session, change_counters, owner)
    return len(owners) == 1


def _held_by(job_id: uuid.UUID, worker_id: str) -> sa.ColumnElement[bool]:
    return sa.and_(Job.id == job_id, Job.status == "running", Job.lease_owner == worker_id)


async def renew_lease(
    db: Database, job_id: uuid.UUID, worker_id: str, *, lease_s: float, now: datetime | None = None
) -> LeaseState:
    """Extend our lease on a running job; tells whether we still hold it and if cancel was asked."""
    now = now or utc_now()
    async with db.transaction() as session:
        held = await _update(
            session,
            _held_by(job_id, worker_id),
            lease_expires_at=now + timedelta(seconds=lease_s),
        )
        cancel = await session.scalar(sa.select(Job.cancel_requested).where(Job.id == job_id))
    return LeaseState(held=held, cancel_requested=bool(cancel))


async def cancel_requested(
    db: Database, worker_id: str, job_ids: Collection[uuid.UUID]
) -> set[uuid.UUID]:
    """Which of these jobs, still running under our lease, their owners asked to cancel."""
    if not job_ids:
        return set()
    # By primary key, read-only: cheap enough to ask every second for all our running jobs.
    query = sa.select(Job.id).where(
        Job.id.in_(list(job_ids)),
        Job.status == "running",
        Job.lease_owner == worker_id,
        Job.cancel_requested.is_(True),
    )
    async with db.session() as session:
        return set((await session.execute(query)).scalars())


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
        return await _settle(
            session,
            _held_by(job_id, worker_id),
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
        held = await _update(session, _held_by(job_id, worker_id), lease_owner=worker_id)
        if not held:
            return False
        last = await session.scalar(
            sa.select(sa.func.max(JobEvent.seq)).where(JobEvent.job_id == job_id)
        )
        first = int(last or 0) + 1
        session.add_all(
            JobEvent(job_id=job_id, seq=first + i, attempt=attempt, data=step, created_at=now)
            for i, step in enumerate(steps)
        )
    return True
