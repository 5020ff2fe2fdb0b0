"""Queries on the jobs table for the API side (the worker's side lives in job_queue)."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from services.kit import change_versions
from services.kit.paging import NewestFirst
from services.training.tables import VERSIONS, Job, change_counters

ACTIVE_STATUSES = ("queued", "running")


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
