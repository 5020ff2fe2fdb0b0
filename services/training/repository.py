"""Every query on the jobs table and its progress events: the API's, the worker queue's
(job_queue holds the claim and lease protocol) and the event stream's."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from services.kit import change_versions
from services.kit.paging import NewestFirst
from services.training.tables import VERSIONS, Job, JobEvent, change_counters

ACTIVE_STATUSES = ("queued", "running")
FINISHED_STATUSES = frozenset({"succeeded", "failed", "cancelled"})


async def get_owned(session: AsyncSession, owner_id: str, job_id: uuid.UUID) -> Job | None:
    """The job if it is the owner's; None for a missing job or someone else's."""
    query = sa.select(Job).where(Job.id == job_id, Job.owner_id == owner_id)
    return (await session.execute(query)).scalar_one_or_none()


async def count_active(session: AsyncSession, owner_id: str) -> int:
    query = sa.select(sa.func.count()).where(
        Job.owner_id == owner_id, Job.status.in_(ACTIVE_STATUSES)
    )
    return int(await session.scalar(query) or 0)


# The owner's jobs for a list: every field of the contract but the (large) result.
JOB_LIST = NewestFirst.of(
    sa.select(
        Job.id,
        Job.owner_id,
        Job.status,
        Job.dataset_id,
        Job.dataset_version,
        Job.target,
        Job.features,
        Job.task,
        Job.model,
        Job.model_name,
        Job.hyperparameters,
        Job.validation_split,
        Job.seed,
        Job.created_at,
        Job.started_at,
        Job.finished_at,
        Job.error,
        Job.metrics,
        Job.model_id,
        Job.model_version,
        VERSIONS.column,
    ).where(Job.owner_id == sa.bindparam("owner_id")),
    Job.created_at,
    Job.id,
)


async def cancel_if_queued(
    session: AsyncSession, owner_id: str, job_id: uuid.UUID, now: datetime
) -> bool:
    """Cancel a job no worker holds yet; False when it is no longer queued."""
    statement = (
        sa.update(Job)
        .where(Job.id == job_id, Job.status == "queued")
        .values(status="cancelled", finished_at=now, cancel_requested=True)
    )
    if not await _changed_one(session, statement):
        return False
    await change_versions.bump(session, change_counters, owner_id)
    return True


async def request_cancel(session: AsyncSession, job_id: uuid.UUID) -> bool:
    """Ask the worker running this job to stop; False when it is no longer running."""
    statement = (
        sa.update(Job)
        .where(Job.id == job_id, Job.status == "running")
        .values(cancel_requested=True)
    )
    return await _changed_one(session, statement)


async def _changed_one(session: AsyncSession, statement: sa.Update) -> bool:
    result = await session.execute(statement, execution_options={"synchronize_session": False})
    assert isinstance(result, CursorResult)
    return bool(result.rowcount == 1)


# The worker queue's side.


def claimable(now: datetime) -> sa.ColumnElement[bool]:
    """Queued jobs, and running ones whose lease expired."""
    expired = sa.and_(Job.status == "running", Job.lease_expires_at < now)
    return sa.or_(Job.status == "queued", expired)


def held_by(job_id: uuid.UUID, worker_id: str) -> sa.ColumnElement[bool]:
    """The job, while it runs under this worker's lease."""
    return sa.and_(Job.id == job_id, Job.status == "running", Job.lease_owner == worker_id)


def as_read(job: Job) -> sa.ColumnElement[bool]:
    """The job only while it is as it was read: every claim bumps `attempts` (compare-and-set)."""
    return sa.and_(Job.id == job.id, Job.status == job.status, Job.attempts == job.attempts)


async def oldest_claimable(session: AsyncSession, now: datetime, *, lock: bool) -> Job | None:
    """The oldest claimable job; with `lock`, row-locked, skipping rows others hold."""
    query = sa.select(Job).where(claimable(now)).order_by(Job.created_at, Job.id).limit(1)
    if lock:
        query = query.with_for_update(skip_locked=True)
    return (await session.execute(query)).scalar_one_or_none()


async def reload(session: AsyncSession, job_id: uuid.UUID) -> Job | None:
    """The job as the database has it now, not as this session last saw it."""
    return await session.get(Job, job_id, populate_existing=True)


async def update_lease(session: AsyncSession, where: sa.ColumnElement[bool], **values: Any) -> bool:
    """An update the job's owner does not see (its lease); whether it applied."""
    return await _changed_one(session, sa.update(Job).where(where).values(**values))


async def settle(session: AsyncSession, where: sa.ColumnElement[bool], **values: Any) -> bool:
    """An update the job's owner sees (status, result): it moves their change version on."""
    statement = sa.update(Job).where(where).values(**values).returning(Job.owner_id)
    result = await session.execute(statement, execution_options={"synchronize_session": False})
    owners = result.scalars().all()
    for owner in set(owners):
        await change_versions.bump(session, change_counters, owner)
    return len(owners) == 1


async def is_cancel_requested(session: AsyncSession, job_id: uuid.UUID) -> bool:
    """Whether the job's owner asked to cancel it (False for a missing job)."""
    return bool(await session.scalar(sa.select(Job.cancel_requested).where(Job.id == job_id)))


async def cancel_requested_among(
    session: AsyncSession, worker_id: str, job_ids: Collection[uuid.UUID]
) -> set[uuid.UUID]:
    """Which of these jobs, running under this worker's lease, their owners asked to cancel."""
    query = sa.select(Job.id).where(
        Job.id.in_(list(job_ids)),
        Job.status == "running",
        Job.lease_owner == worker_id,
        Job.cancel_requested.is_(True),
    )
    return set((await session.execute(query)).scalars())


async def last_event_seq(session: AsyncSession, job_id: uuid.UUID) -> int:
    """The seq of the job's last stored progress step; 0 before the first."""
    last = await session.scalar(
        sa.select(sa.func.max(JobEvent.seq)).where(JobEvent.job_id == job_id)
    )
    return int(last or 0)


def add_events(
    session: AsyncSession,
    job_id: uuid.UUID,
    attempt: int,
    first_seq: int,
    steps: list[dict[str, Any]],
    now: datetime,
) -> None:
    """Store progress steps numbered from `first_seq`."""
    session.add_all(
        JobEvent(job_id=job_id, seq=first_seq + i, attempt=attempt, data=step, created_at=now)
        for i, step in enumerate(steps)
    )


async def events_after(
    session: AsyncSession, job_id: uuid.UUID, after: int, limit: int
) -> list[JobEvent]:
    """Up to `limit` of the job's progress steps after seq `after`, in order."""
    query = (
        sa.select(JobEvent)
        .where(JobEvent.job_id == job_id, JobEvent.seq > after)
        .order_by(JobEvent.seq)
        .limit(limit)
    )
    return list((await session.execute(query)).scalars())
