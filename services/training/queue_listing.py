"""The training queue as an operator sees it: every user's queued and running jobs, in the
order workers take them, and how many there are."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from proto.training import MAX_QUEUE_COUNT, JobQueue, QueueStatus
from services.kit.paging import Position, clamp_limit, cursor_position, position_cursor
from services.training.job_feed import to_contract
from services.training.repository import ACTIVE_STATUSES
from services.training.tables import Job


async def job_queue(
    session: AsyncSession, status: QueueStatus | None, cursor: str | None, limit: int | None
) -> JobQueue:
    """One page of the queue (oldest first), and the queued and running counts."""
    size = clamp_limit(limit)
    statuses = (status,) if status is not None else ACTIVE_STATUSES
    rows = await _oldest_first(session, statuses, cursor_position(cursor), size)
    page = rows[:size]
    next_cursor = (
        position_cursor(page[-1].created_at, page[-1].id) if len(rows) > size and page else None
    )
    queued = await _count(session, "queued")
    running = await _count(session, "running")
    return JobQueue(
        items=[to_contract(job, with_result=False) for job in page],
        next_cursor=next_cursor,
        queued=min(queued, MAX_QUEUE_COUNT),
        running=min(running, MAX_QUEUE_COUNT),
        counts_at_least=max(queued, running) > MAX_QUEUE_COUNT,
    )


async def _oldest_first(
    session: AsyncSession, statuses: tuple[str, ...], after: Position | None, limit: int
) -> list[Job]:
    query = sa.select(Job).where(Job.status.in_(statuses))
    if after is not None:
        query = query.where(
            sa.or_(
                Job.created_at > after.at,
                sa.and_(Job.created_at == after.at, Job.id > after.id),
            )
        )
    query = query.order_by(Job.created_at, Job.id).limit(limit + 1)
    return list((await session.execute(query)).scalars().all())


async def _count(session: AsyncSession, status: str) -> int:
    """Jobs in `status`, counted no further than MAX_QUEUE_COUNT + 1 (ix_jobs_status_created)."""
    capped = sa.select(Job.id).where(Job.status == status).limit(MAX_QUEUE_COUNT + 1).subquery()
    return int((await session.execute(sa.select(sa.func.count()).select_from(capped))).scalar_one())
