"""Client of the training service: training jobs, acting for one user."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

from bff.clients.reads import DownstreamPage, get_one, get_page, page_params, read_batch
from proto.common import INTERNAL_PREFIX
from proto.training import JobQueue, QueueStatus, TrainingJob, TrainingJobCreate
from services.kit.http_client import ServiceClient

_PREFIX = INTERNAL_PREFIX


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
    ) -> DownstreamPage:
        """One page of the user's training jobs (`Page[TrainingJob]`)."""
        return await get_page(self._http, f"{_PREFIX}/jobs", user_id, cursor, limit)

    async def read_jobs(self, user_id: str, ids: Sequence[str]) -> list[dict[str, Any]]:
        """Those of these jobs (at most 100 ids) that are the user's, as lists show them."""
        return await read_batch(self._http, f"{_PREFIX}/jobs/batch", user_id, {"ids": ids})

    async def get_job(self, user_id: str, job_id: UUID) -> TrainingJob:
        """One of the user's training jobs."""
        return await get_one(self._http, TrainingJob, f"{_PREFIX}/jobs/{job_id}", user_id)

    async def cancel_job(self, user_id: str, job_id: UUID) -> TrainingJob:
        """Cancel a queued or running job."""
        data = await self._http.post_json(f"{_PREFIX}/jobs/{job_id}/cancel", user_id=user_id)
        return TrainingJob.model_validate(data)

    @asynccontextmanager
    async def job_events(
        self, user_id: str, job_id: UUID, last_event_id: str | None = None
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        """The job's SSE stream, opened (errors raised here) and yielded as raw chunks."""
        headers = {"accept": "text/event-stream"}
        if last_event_id is not None:
            headers["last-event-id"] = last_event_id
        # The service sends a keep-alive every few seconds; a silent minute means it is gone.
        async with self._http.stream(
            "GET",
            f"{_PREFIX}/jobs/{job_id}/events",
            user_id=user_id,
            headers=headers,
            read_timeout_s=60.0,
        ) as response:
            yield response.aiter_bytes()

    async def get_report_png(self, user_id: str, job_id: UUID) -> bytes:
        """The PNG report of a succeeded job."""
        response = await self._http.request(
            "GET", f"{_PREFIX}/jobs/{job_id}/report.png", user_id=user_id, timeout_s=30.0
        )
        return response.content

    async def job_queue(
        self, status: QueueStatus | None = None, cursor: str | None = None, limit: int | None = None
    ) -> JobQueue:
        """Every user's queued and running jobs, oldest first, with counts (the operator's)."""
        params: dict[str, str | int] = page_params(cursor, limit)
        if status is not None:
            params["status"] = status
        response = await self._http.request("GET", f"{_PREFIX}/queue", params=params)
        return JobQueue.model_validate_json(response.content)
