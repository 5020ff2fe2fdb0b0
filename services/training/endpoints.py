"""Internal REST endpoints of the training service (/internal/v1): thin, auth + params only."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import StreamingResponse

from proto.common import Page
from proto.training import TrainingJob, TrainingJobCreate
from services.kit.dependencies import INTERNAL_DEPENDENCIES, ActingUser, Runtime
from services.kit.errors import ApiError
from services.kit.pagination import MAX_PAGE_SIZE
from services.kit.responses import json_response
from services.training import event_stream, service
from services.training.datasets_client import DatasetsClient
from services.training.settings import TrainingSettings

router = APIRouter(prefix="/internal/v1", dependencies=INTERNAL_DEPENDENCIES, tags=["jobs"])


def _settings(runtime: Runtime) -> TrainingSettings:
    settings = runtime.settings
    assert isinstance(settings, TrainingSettings)
    return settings


@router.post("/jobs", status_code=201, response_model=TrainingJob)
async def create_job(
    body: TrainingJobCreate, request: Request, runtime: Runtime, user: ActingUser
) -> TrainingJob:
    datasets = DatasetsClient(runtime.client("datasets"))
    job = await service.create_job(runtime.db, datasets, _settings(runtime), user, body)
    worker = getattr(request.app.state, "job_worker", None)
    if worker is not None:
        worker.wake()
    return job


@router.get("/jobs", response_model=Page[TrainingJob])
async def list_jobs(
    runtime: Runtime,
    user: ActingUser,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int | None, Query(ge=1, le=MAX_PAGE_SIZE)] = None,
) -> Response:
    return json_response(await service.list_jobs(runtime.db, user, cursor, limit))


@router.get("/jobs/{job_id}", response_model=TrainingJob)
async def get_job(job_id: uuid.UUID, runtime: Runtime, user: ActingUser) -> TrainingJob:
    return await service.get_job(runtime.db, user, job_id)


@router.post("/jobs/{job_id}/cancel", response_model=TrainingJob)
async def cancel_job(job_id: uuid.UUID, runtime: Runtime, user: ActingUser) -> TrainingJob:
    return await service.cancel_job(runtime.db, user, job_id)


@router.get(
    "/jobs/{job_id}/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def job_events(
    job_id: uuid.UUID,
    runtime: Runtime,
    user: ActingUser,
    last_event_id: Annotated[str | None, Header(max_length=32)] = None,
    after: Annotated[int | None, Query(ge=0)] = None,
) -> StreamingResponse:
    """Progress as SSE, from after `Last-Event-ID` (or `after`); ends with the finished job."""
    await event_stream.check_owned(runtime.db, user, job_id)
    settings = _settings(runtime)
    start = after if after is not None else event_stream.parse_last_event_id(last_event_id)
    stream = event_stream.stream_events(
        runtime.db,
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
async def job_report(job_id: uuid.UUID, runtime: Runtime, user: ActingUser) -> Response:
    """The PNG report of a succeeded job: training curves and confusion matrix."""
    job = await service.get_job(runtime.db, user, job_id)
    if job.status != "succeeded" or job.result is None:
        raise ApiError(
            409,
            "REPORT_NOT_READY",
            f"job {job_id} is {job.status}; a report exists once it succeeded",
            user_message="The report is ready once the training has finished.",
        )
    from services.training.report_image import render_report  # matplotlib loads on first use

    title = f"{job.model_name} — {job.model}, {job.task}"
    png = await asyncio.to_thread(render_report, title, job.result)
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=300"})
