"""Client of the training service: training jobs, acting for one user."""

from __future__ import annotations

from uuid import UUID

from bff.clients.paging import page_params
from proto.common import Page
from proto.training import TrainingJob, TrainingJobCreate
from services.kit.http_client import ServiceClient

_PREFIX = "/internal/v1"


class TrainingClient:
    """Typed calls to the training service."""

    def __init__(self, http: ServiceClient) -> None:
        self._http = http

    async def create_job(self, user_id: str, job: TrainingJobCreate) -> TrainingJob:
        """Queue a training job."""
        data = await self._http.post_json(f"{_PREFIX}/jobs", user_id=user_id, json=job)
        return TrainingJob.model_validate(data)

    async def list_jobs(
        self, user_id: str, cursor: str | None = None, limit: int | None = None
    ) -> Page[TrainingJob]:
        """One page of the user's training jobs."""
        data = await self._http.get_json(
            f"{_PREFIX}/jobs", user_id=user_id, params=page_params(cursor, limit)
        )
        return Page[TrainingJob].model_validate(data)

    async def get_job(self, user_id: str, job_id: UUID) -> TrainingJob:
        """One of the user's training jobs."""
        data = await self._http.get_json(f"{_PREFIX}/jobs/{job_id}", user_id=user_id)
        return TrainingJob.model_validate(data)

    async def cancel_job(self, user_id: str, job_id: UUID) -> TrainingJob:
        """Cancel a queued or running job."""
        data = await self._http.post_json(f"{_PREFIX}/jobs/{job_id}/cancel", user_id=user_id)
        return TrainingJob.model_validate(data)
