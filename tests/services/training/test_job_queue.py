"""The durable queue: claims, leases, heartbeats and attempts, on SQLite (and PostgreSQL)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from services.kit.clock import utc_now
from services.kit.database import Database
from services.training import job_queue
from services.training.tables import Job
from tests.support.training_setup import new_job

LEASE_S = 30.0


async def add(db: Database, *jobs: Job) -> None:
    async with db.transaction() as session:
        session.add_all(jobs)


async def load(db: Database, job_id: uuid.UUID) -> Job:
    async with db.session() as session:
        job = await session.get(Job, job_id)
    assert job is not None
    return job


async def claim(db: Database, worker: str, max_attempts: int = 2, **kwargs: object) -> Job | None:
    return await job_queue.claim_next(
        db,
        worker,
        lease_s=LEASE_S,
        max_attempts=max_attempts,
        **kwargs,  # type: ignore[arg-type]
    )


async def test_claims_the_oldest_queued_job_and_leases_it(db: Database) -> None:
    now = utc_now()
    older = new_job(created_at=now - timedelta(minutes=5))
    newer = new_job(created_at=now)
    await add(db, newer, older)

    claimed = await claim(db, "worker-a")

    assert claimed is not None and claimed.id == older.id
    assert claimed.status == "running"
    assert claimed.lease_owner == "worker-a"
    assert claimed.attempts == 1
    assert claimed.started_at is not None
    assert claimed.lease_expires_at is not None
    assert claimed.lease_expires_at > utc_now() + timedelta(seconds=LEASE_S - 5)


async def test_nothing_to_claim_when_every_job_is_leased_or_finished(db: Database) -> None:
    succeeded = new_job(status="succeeded", report_ready_at=utc_now())
    await add(db, succeeded, new_job(status="cancelled"))
    await add(db, new_job())
    assert await claim(db, "worker-a") is not None

    assert await claim(db, "worker-b") is None


async def test_two_claimers_never_get_the_same_job(db: Database, database_url: str) -> None:
    jobs = [new_job() for _ in range(8)]
    await add(db, *jobs)
    other = Database(database_url)  # a second replica: its own engine and connections

    async def drain(database: Database, worker: str) -> list[uuid.UUID]:
        claimed: list[uuid.UUID] = []
        while (job := await claim(database, worker)) is not None:
            claimed.append(job.id)
        return claimed

    try:
        first, second = await asyncio.gather(drain(db, "worker-a"), drain(other, "worker-b"))
    finally:
        await other.dispose()

    assert sorted(first + second) == sorted(job.id for job in jobs)
    assert not set(first) & set(second)
    for job_id in first:
        assert (await load(db, job_id)).lease_owner == "worker-a"


async def test_a_job_whose_lease_expired_is_reclaimed_and_the_old_holder_loses_it(
    db: Database,
) -> None:
    job = new_job()
    await add(db, job)
    assert await claim(db, "worker-a") is not None
    later = utc_now() + timedelta(seconds=LEASE_S + 1)

    reclaimed = await claim(db, "worker-b", now=later)

    assert reclaimed is not None and reclaimed.id == job.id
    assert reclaimed.lease_owner == "worker-b"
    assert reclaimed.attempts == 2
    state = await job_queue.renew_lease(db, job.id, "worker-a", lease_s=LEASE_S)
    assert not state.held
    assert not await job_queue.finish(db, job.id, "worker-a", "failed", error="late")
    assert await job_queue.finish(db, job.id, "worker-b", "succeeded", metrics={"f1": 1.0})
    finished = await load(db, job.id)
    assert finished.status == "succeeded"
    assert finished.metrics == {"f1": 1.0}
    assert finished.lease_owner is None and finished.lease_expires_at is None


async def test_a_live_lease_is_not_taken_and_heartbeats_keep_it(db: Database) -> None:
    job = new_job()
    await add(db, job)
    assert await claim(db, "worker-a") is not None
    soon = utc_now() + timedelta(seconds=LEASE_S - 1)

    assert await claim(db, "worker-b", now=soon) is None
    state = await job_queue.renew_lease(db, job.id, "worker-a", lease_s=LEASE_S, now=soon)
    assert state.held and not state.cancel_requested
    # Renewed at `soon`: still held just after the first lease would have ended.
    assert await claim(db, "worker-b", now=soon + timedelta(seconds=2)) is None


async def test_a_job_past_its_attempts_is_failed_with_a_clear_error(db: Database) -> None:
    job = new_job()
    await add(db, job)
    now = utc_now()
    step = timedelta(seconds=LEASE_S + 1)
    assert (await claim(db, "worker-a", now=now)) is not None
    second = await claim(db, "worker-b", now=now + step)
    assert second is not None and second.attempts == 2

    assert await claim(db, "worker-c", now=now + 2 * step) is None

    failed = await load(db, job.id)
    assert failed.status == "failed"
    assert failed.error is not None and "2 times" in failed.error
    assert failed.finished_at is not None


async def test_cancel_requests_reach_the_heartbeat_and_orphans_are_cancelled(
    db: Database,
) -> None:
    job = new_job()
    await add(db, job)
    assert await claim(db, "worker-a") is not None
    async with db.transaction() as session:
        (await session.get(Job, job.id)).cancel_requested = True  # type: ignore[union-attr]

    state = await job_queue.renew_lease(db, job.id, "worker-a", lease_s=LEASE_S)
    assert state.held and state.cancel_requested

    # The worker died before it could stop: the next claimer settles the job as cancelled.
    later = utc_now() + timedelta(seconds=LEASE_S + 1)
    assert await claim(db, "worker-b", now=later) is None
    assert (await load(db, job.id)).status == "cancelled"


async def test_the_cancel_poll_names_only_our_running_jobs_that_were_cancelled(
    db: Database,
) -> None:
    now = utc_now()
    ours, untouched, theirs = (new_job(created_at=now + timedelta(seconds=i)) for i in range(3))
    await add(db, ours, untouched, theirs)
    for worker in ("worker-a", "worker-a", "worker-b"):
        assert await claim(db, worker) is not None
    async with db.transaction() as session:
        for job in (ours, theirs):
            (await session.get(Job, job.id)).cancel_requested = True  # type: ignore[union-attr]

    asked = await job_queue.cancel_requested(db, "worker-a", [ours.id, untouched.id, theirs.id])

    assert asked == {ours.id}  # not the one worker-b holds, nor the one nobody cancelled
    assert await job_queue.cancel_requested(db, "worker-a", []) == set()
    assert await job_queue.finish(db, ours.id, "worker-a", "cancelled")
    assert await job_queue.cancel_requested(db, "worker-a", [ours.id]) == set()
