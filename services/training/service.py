"""Training jobs as their owners see them: create (checked, then queued), list, get, cancel."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from proto.training import TrainingJob, TrainingJobCreate
from services.kit.change_feed import change_writer
from services.kit.change_versions import rows_data
from services.kit.clock import utc_now
from services.kit.database import Database
from services.kit.errors import Action, ApiError, not_found
from services.kit.paging import clamp_limit, cursor_position, split_page
from services.kit.responses import JsonPage
from services.training import repository
from services.training.context import TrainingContext
from services.training.job_feed import record_job, to_contract
from services.training.job_planning import plan_job
from services.training.tables import FEED, VERSIONS, Job


async def create_job(
    ctx: TrainingContext, owner_id: str, request: TrainingJobCreate
) -> TrainingJob:
    """Check the request against the dataset (acting as the owner), then queue the job."""
    datasets, settings = ctx.downstreams.datasets, ctx.settings
    dataset = await datasets.get_dataset(owner_id, request.dataset_id)
    version_number = request.dataset_version or dataset.latest_version
    version = await datasets.get_version(owner_id, dataset.id, version_number)
    plan = plan_job(request, version, settings)
    # The owner's counter first: it also keeps two creations from both passing the limit.
    async with ctx.db.transaction() as session, change_writer(session, FEED, owner_id) as changes:
        if await repository.count_active(session, owner_id) >= settings.max_active_jobs_per_owner:
            raise ApiError(
                429,
                "TOO_MANY_ACTIVE_JOBS",
                f"at most {settings.max_active_jobs_per_owner} jobs may be queued or running",
                user_message="You have several trainings going. Wait for one to finish.",
                action=Action.RETRY,
                retry_after_s=30,
            )
        job = Job(
            id=uuid.uuid4(),
            owner_id=owner_id,
            status="queued",
            dataset_id=dataset.id,
            dataset_version=plan.dataset_version,
            target=plan.target,
            features=plan.features,
            column_types=plan.column_types,
            task=plan.task,
            model=plan.model,
            model_name=plan.model_name,
            hyperparameters=plan.hyperparameters,
            validation_split=request.validation_split,
            seed=request.seed,
            created_at=utc_now(),
            attempts=0,
            cancel_requested=False,
        )
        session.add(job)
        await record_job(changes, job)
    ctx.wake_worker()
    return to_contract(job)


async def get_job(db: Database, owner_id: str, job_id: uuid.UUID) -> TrainingJob:
    """The owner's job; 404 for a missing one or another user's."""
    async with db.session() as session:
        job = await repository.get_owned(session, owner_id, job_id)
    if job is None:
        raise not_found("job", job_id)
    return to_contract(job)


async def list_jobs(db: Database, owner_id: str, cursor: str | None, limit: int | None) -> JsonPage:
    """The owner's jobs, newest first, one page at a time (the `Page[TrainingJob]` contract;
    lists leave the result out)."""
    size = clamp_limit(limit)
    statement, params = repository.JOB_LIST.bind(cursor_position(cursor), size, owner_id=owner_id)
    rows = await db.fetch_all(statement, params)
    await VERSIONS.answer(db, owner_id, rows)
    page, next_cursor = split_page(rows, size, lambda row: (row.created_at, row.id))
    return {"items": _without_result(page), "next_cursor": next_cursor}


async def read_jobs(
    db: Database, owner_id: str, ids: list[uuid.UUID]
) -> dict[str, list[dict[str, Any]]]:
    """Those of these jobs that are the owner's, as lists show them (no result): the
    `Batch[TrainingJob]` contract."""
    rows = await db.fetch_all(repository.JOB_BATCH, {"owner_id": owner_id, "ids": list(set(ids))})
    await VERSIONS.answer(db, owner_id, rows)
    return {"items": _without_result(rows)}


def _without_result(rows: Sequence[sa.Row[Any]]) -> list[dict[str, Any]]:
    items = rows_data(rows)
    for item in items:
        item["result"] = None
    return items


async def cancel_job(db: Database, owner_id: str, job_id: uuid.UUID) -> TrainingJob:
    """Cancel a queued job at once; ask a running one to stop; 409 for a finished one.

    Asking a running job to stop changes nothing its owner sees yet: its feed entry moves when
    the worker settles it (cancelled, or finished meanwhile)."""
    for _ in range(3):  # the job may change state between the read and the write
        async with db.transaction() as session, change_writer(session, FEED, owner_id) as changes:
            job = await repository.get_owned(session, owner_id, job_id)
            if job is None:
                raise not_found("job", job_id)
            if job.status in repository.FINISHED_STATUSES:
                raise ApiError(
                    409,
                    "JOB_FINISHED",
                    f"job {job_id} already {job.status}; there is nothing to cancel",
                    user_message="This training has already finished.",
                )
            if job.status == "queued":
                cancelled = await repository.cancel_if_queued(session, job_id, utc_now())
                if cancelled is not None:
                    await record_job(changes, cancelled)
                changed = cancelled is not None
            else:
                changed = await repository.request_cancel(session, job_id)
        if changed:
            return await get_job(db, owner_id, job_id)
    raise ApiError(409, "JOB_BUSY", f"job {job_id} kept changing; try again", action=Action.RETRY)
