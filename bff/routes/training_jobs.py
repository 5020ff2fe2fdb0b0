"""The user's training jobs: start, watch, cancel."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Annotated
from uuid import UUID

from fastapi import Header, Response
from fastapi.responses import StreamingResponse

from bff.compact.representation import Represented
from bff.dependencies import Clients, CurrentUser
from bff.routes.pagination import PageParams
from proto.common import Page
from proto.training import TrainingJob, TrainingJobCreate
from services.kit.routing import PrefixedRouter

router = PrefixedRouter(prefix="/training-jobs", tags=["training"])


@router.post("", status_code=201, response_model=TrainingJob)
async def create_training_job(
    body: TrainingJobCreate, user: CurrentUser, clients: Clients
) -> TrainingJob:
    """Start training a model on one of the user's datasets."""
    return await clients.training.create_job(user.id, body)


@router.get("", response_model=Page[TrainingJob])
async def list_training_jobs(page: PageParams, user: CurrentUser, clients: Clients) -> Represented:
    """The user's training jobs, a page at a time."""
    listed = await clients.training.list_jobs(user.id, page.cursor, page.limit)
    return Represented(listed.as_json())


@router.get("/{job_id}", response_model=TrainingJob)
async def get_training_job(job_id: UUID, user: CurrentUser, clients: Clients) -> TrainingJob:
    """One training job: poll it for progress."""
    return await clients.training.get_job(user.id, job_id)


@router.post("/{job_id}/cancel", response_model=TrainingJob)
async def cancel_training_job(job_id: UUID, user: CurrentUser, clients: Clients) -> TrainingJob:
    """Cancel a queued or running job."""
    return await clients.training.cancel_job(user.id, job_id)


@router.get(
    "/{job_id}/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def training_job_events(
    job_id: UUID,
    user: CurrentUser,
    clients: Clients,
    last_event_id: Annotated[str | None, Header(max_length=32)] = None,
) -> StreamingResponse:
    """Live progress as Server-Sent Events: `progress` per epoch (id = its seq), then `status`.

    Reconnect with `Last-Event-ID` to resume after the last event received.
    """
    stack = AsyncExitStack()
    try:
        chunks = await stack.enter_async_context(
            clients.training.job_events(user.id, job_id, last_event_id)
        )
    except BaseException:
        await stack.aclose()
        raise

    async def relay() -> AsyncIterator[bytes]:
        async with stack:  # closes the upstream stream when the app goes away
            async for chunk in chunks:
                yield chunk

    return StreamingResponse(
        relay(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get(
    "/{job_id}/report.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
)
async def training_job_report(job_id: UUID, user: CurrentUser, clients: Clients) -> Response:
    """A PNG of the training curves and confusion matrix of a succeeded job."""
    png = await clients.training.get_report_png(user.id, job_id)
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=300"})
