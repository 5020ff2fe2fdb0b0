"""The user's training jobs: start, watch, cancel."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter

from bff.dependencies import Clients, CurrentUser
from bff.routes.pagination import PageParams
from proto.common import Page
from proto.training import TrainingJob, TrainingJobCreate

router = APIRouter(prefix="/training-jobs", tags=["training"])


@router.post("", status_code=201, response_model=TrainingJob)
async def create_training_job(
    body: TrainingJobCreate, user: CurrentUser, clients: Clients
) -> TrainingJob:
    """Start training a model on one of the user's datasets."""
    return await clients.training.create_job(user.id, body)


@router.get("", response_model=Page[TrainingJob])
async def list_training_jobs(
    page: PageParams, user: CurrentUser, clients: Clients
) -> Page[TrainingJob]:
    """The user's training jobs, a page at a time."""
    return await clients.training.list_jobs(user.id, page.cursor, page.limit)


@router.get("/{job_id}", response_model=TrainingJob)
async def get_training_job(job_id: UUID, user: CurrentUser, clients: Clients) -> TrainingJob:
    """One training job: poll it for progress."""
    return await clients.training.get_job(user.id, job_id)


@router.post("/{job_id}/cancel", response_model=TrainingJob)
async def cancel_training_job(job_id: UUID, user: CurrentUser, clients: Clients) -> TrainingJob:
    """Cancel a queued or running job."""
    return await clients.training.cancel_job(user.id, job_id)
