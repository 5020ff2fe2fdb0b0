"""Internal REST endpoints of the training service (/internal/v1): thin, auth + params only."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated

from fastapi import Header, Query, Response
from fastapi.responses import StreamingResponse

from proto.common import INT64_MAX, INTERNAL_PREFIX, Batch, BatchRead, Page
from proto.training import JobQueue, QueueStatus, TrainingJob, TrainingJobCreate
from services.kit.dependencies import INTERNAL_DEPENDENCIES, ActingUser, DbSession, only_from
from services.kit.errors import Action, ApiError
from services.kit.paging import CursorParam, LimitParam
from services.kit.responses import json_response
from services.kit.routing import PrefixedRouter
from services.training import event_stream, queue_listing, service
from services.training.context import TrainingDep

router = PrefixedRouter(prefix=INTERNAL_PREFIX, dependencies=INTERNAL_DEPENDENCIES, tags=["jobs"])


@router.post("/jobs", status_code=201, response_model=TrainingJob)
async def create_job(body: TrainingJobCreate, ctx: TrainingDep, user: ActingUser) -> TrainingJob:
    return await service.create_job(ctx, user, body)


@router.get("/jobs", response_model=Page[TrainingJob])
async def list_jobs(
    ctx: TrainingDep,
    user: ActingUser,
    cursor: CursorParam = None,
    limit: LimitParam = None,
) -> Response:
    return json_response(await service.list_jobs(ctx.db, user, cursor, limit))


@router.post("/jobs/batch", response_model=Batch[TrainingJob])
async def read_jobs(body: BatchRead, ctx: TrainingDep, user: ActingUser) -> Response:
    """Several of the caller's jobs at once, as lists show them (at most 100 ids); others'
    are left out."""
    return json_response(await service.read_jobs(ctx.db, user, body.ids))


@router.get("/jobs/{job_id}", response_model=TrainingJob)
async def get_job(job_id: uuid.UUID, ctx: TrainingDep, user: ActingUser) -> TrainingJob:
    return await service.get_job(ctx.db, user, job_id)


@router.post("/jobs/{job_id}/cancel", response_model=TrainingJob)
async def cancel_job(job_id: uuid.UUID, ctx: TrainingDep, user: ActingUser) -> TrainingJob:
    return await service.cancel_job(ctx.db, user, job_id)


@router.get(
    "/jobs/{job_id}/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def job_events(
    job_id: uuid.UUID,
    ctx: TrainingDep,
    user: ActingUser,
    last_event_id: Annotated[str | None, Header(max_length=32)] = None,
    after: Annotated[int | None, Query(ge=0, le=INT64_MAX)] = None,
) -> StreamingResponse:
    """Progress as SSE, from after `Last-Event-ID` (or `after`); ends with the finished job."""
    await event_stream.check_owned(ctx.db, user, job_id)
    settings = ctx.settings
    start = after if after is not None else event_stream.parse_last_event_id(last_event_id)
    stream = event_stream.stream_events(
        ctx.db,
        user,
        job_id,
        start,
        poll_s=settings.events_poll_s,
        max_stream_s=settings.events_max_stream_s,
    )
    return StreamingResponse(
        stream,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get(
    "/jobs/{job_id}/report.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
)
async def job_report(job_id: uuid.UUID, ctx: TrainingDep, user: ActingUser) -> Response:
    """The PNG report of a succeeded job: training curves and confusion matrix."""
    job = await service.get_job(ctx.db, user, job_id)
    if job.status != "succeeded" or job.result is None or job.report_ready_at is None:
        state = "succeeded; its report follows" if job.status == "succeeded" else job.status
        raise ApiError(
            409,
            "REPORT_NOT_READY",
            f"job {job_id} is {state}; a report exists once it succeeded and its report_ready_at "
            "is set",
            user_message="The report is ready shortly after the training has finished.",
            action=Action.RETRY if job.status == "succeeded" else Action.NONE,
        )
    from services.training.report_image import render_report  # matplotlib loads on first use

    title = f"{job.model_name} — {job.model}, {job.task}"
    png = await asyncio.to_thread(render_report, title, job.result)
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=300"})


@router.get("/queue", response_model=JobQueue, dependencies=[only_from("bff")])
async def job_queue(
    session: DbSession,
    status: QueueStatus | None = None,
    cursor: CursorParam = None,
    limit: LimitParam = None,
) -> JobQueue:
    """Every user's queued and running jobs (or one status's), oldest first, with counts: the
    operator's view of the queue."""
    return await queue_listing.job_queue(session, status, cursor, limit)
