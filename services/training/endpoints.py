"""Internal REST endpoints of the training service (/internal/v1): thin, auth + params only."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request

from proto.common import Page
from proto.training import TrainingJob, TrainingJobCreate
from services.kit.dependencies import INTERNAL_DEPENDENCIES, ActingUser, Runtime
from services.kit.pagination import MAX_PAGE_SIZE
from services.training import service
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
) -> Page[TrainingJob]:
    return await service.list_jobs(runtime.db, user, cursor, limit)


@router.get("/jobs/{job_id}", response_model=TrainingJob)
async def get_job(job_id: uuid.UUID, runtime: Runtime, user: ActingUser) -> TrainingJob:
    return await service.get_job(runtime.db, user, job_id)


@router.post("/jobs/{job_id}/cancel", response_model=TrainingJob)
async def cancel_job(job_id: uuid.UUID, runtime: Runtime, user: ActingUser) -> TrainingJob:
    return await service.cancel_job(runtime.db, user, job_id)
