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

from services.kit.paging import NewestFirst
from services.training.tables import VERSIONS, Job, JobEvent

ACTIVE_STATUSES = ("queued", "running")
FINISHED_STATUSES = frozenset({"succeeded", "failed", "cancelled"})


async def get_owned(session: AsyncSession, owner_id: str, job_id: uuid.UUID) -> Job | None:
    """The job if it is the owner's; None for a missing job or someone else's."""
    query = sa.select(Job).where(Job.id == job_id, Job.owner_id == owner_id)
    return (await session.execute(query)).scalar_one_or_none()


async def owner_of(session: AsyncSession, job_id: uuid.UUID) -> str | None:
    """Whose job this is; None for a missing one."""
    owner: str | None = await session.scalar(sa.select(Job.owner_id).where(Job.id == job_id))
    return owner


async def count_active(session: AsyncSession, owner_id: str) -> int:
    query = sa.select(sa.func.count()).where(
        Job.owner_id == owner_id, Job.status.in_(ACTIVE_STATUSES)
    )
    return int(await session.scalar(query) or 0)


# The owner's jobs for a list or a batch read: every field of the contract but the (large)
# result.
_JOB_FIELDS = sa.select(
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
    Job.report_ready_at,
    VERSIONS.column,
).where(Job.owner_id == sa.bindparam("owner_id"))
JOB_LIST = NewestFirst.of(_JOB_FIELDS, Job.created_at, Job.id)
JOB_BATCH = _JOB_FIELDS.where(Job.id.in_(sa.bindparam("ids", expanding=True)))


async def cancel_if_queued(session: AsyncSession, job_id: uuid.UUID, now: datetime) -> Job | None:
    """Cancel a job no worker holds yet: the job now; None when it is no longer queued."""
    where = sa.and_(Job.id == job_id, Job.status == "queued")
    return await settle(session, where, status="cancelled", finished_at=now, cancel_requested=True)


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
    """Queued jobs, running ones whose lease expired, and succeeded ones whose report is
    missing and no worker holds (its worker died before it stored the report)."""
    expired = sa.and_(Job.status == "running", Job.lease_expires_at < now)
    report_lost = sa.and_(
        report_pending(),
        sa.or_(Job.lease_expires_at.is_(None), Job.lease_expires_at < now),
    )
    return sa.or_(Job.status == "queued", expired, report_lost)


def report_pending() -> sa.ColumnElement[bool]:
    """Succeeded jobs whose report has not joined their result yet."""
    return sa.and_(Job.status == "succeeded", Job.report_ready_at.is_(None))


def held_by(job_id: uuid.UUID, worker_id: str) -> sa.ColumnElement[bool]:
    """The job, while it runs under this worker's lease."""
    return sa.and_(Job.id == job_id, Job.status == "running", Job.lease_owner == worker_id)


def report_held_by(job_id: uuid.UUID, worker_id: str) -> sa.ColumnElement[bool]:
    """The succeeded job, while this worker's lease on its report lasts."""
    return sa.and_(Job.id == job_id, report_pending(), Job.lease_owner == worker_id)


def lease_held_by(job_id: uuid.UUID, worker_id: str) -> sa.ColumnElement[bool]:
    """The job while this worker holds its lease: to train it, or for its report."""
    running = sa.and_(Job.status == "running", Job.lease_owner == worker_id)
    return sa.and_(Job.id == job_id, sa.or_(running, report_held_by(job_id, worker_id)))


def as_read(job: Job) -> sa.ColumnElement[bool]:
    """The job only while it is as it was read: every claim bumps `attempts` (compare-and-set)."""
    return sa.and_(Job.id == job.id, Job.status == job.status, Job.attempts == job.attempts)


async def oldest_claimable(session: AsyncSession, now: datetime) -> Job | None:
    """The oldest claimable job (unlocked: the claim is a compare-and-set on it)."""
    query = sa.select(Job).where(claimable(now)).order_by(Job.created_at, Job.id).limit(1)
    return (await session.execute(query)).scalar_one_or_none()


async def reload(session: AsyncSession, job_id: uuid.UUID) -> Job | None:
    """The job as the database has it now, not as this session last saw it."""
    return await session.get(Job, job_id, populate_existing=True)


async def update_lease(session: AsyncSession, where: sa.ColumnElement[bool], **values: Any) -> bool:
    """An update the job's owner does not see (its lease); whether it applied."""
    return await _changed_one(session, sa.update(Job).where(where).values(**values))


async def settle(session: AsyncSession, where: sa.ColumnElement[bool], **values: Any) -> Job | None:
    """An update of one job its owner sees (status, result): the job as it now is, None when
    `where` matched none. The caller records it in the owner's change feed."""
    statement = sa.update(Job).where(where).values(**values).returning(Job)
    result = await session.execute(
        statement,
        execution_options={"synchronize_session": False, "populate_existing": True},
    )
    jobs = result.scalars().all()
    return jobs[0] if len(jobs) == 1 else None


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
