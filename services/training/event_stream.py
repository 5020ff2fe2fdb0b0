"""A job's progress as Server-Sent Events, resumable from `Last-Event-ID`.

Each stored step is a `progress` event whose id is its `seq`; once the job is finished and every
step was sent, one `status` event carries the job and the stream ends.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

from proto.common import INT64_MAX
from proto.training import TrainingProgress
from services.kit.database import Database
from services.kit.errors import not_found
from services.training import repository
from services.training.job_feed import to_contract
from services.training.repository import FINISHED_STATUSES

_BATCH = 500
KEEPALIVE_S = 5.0


def parse_last_event_id(value: str | None) -> int:
    """The seq to resume after; 0 (from the start) for a missing or malformed id, which
    includes one past the 64-bit range no seq of ours reaches."""
    if value is None or not value.strip().isdigit():
        return 0
    seq = int(value.strip())
    return seq if seq <= INT64_MAX else 0


async def check_owned(db: Database, owner_id: str, job_id: uuid.UUID) -> None:
    """404 before the stream starts when the job is not the owner's."""
    async with db.session() as session:
        if await repository.get_owned(session, owner_id, job_id) is None:
            raise not_found("job", job_id)


async def stream_events(
    db: Database,
    owner_id: str,
    job_id: uuid.UUID,
    after: int,
    *,
    poll_s: float,
    max_stream_s: float,
) -> AsyncIterator[bytes]:
    """SSE bytes: progress after `after`, then the finished job; polls the database meanwhile."""
    deadline = time.monotonic() + max_stream_s
    quiet_since = time.monotonic()
    yield b"retry: 2000\n\n"
    while True:
        async with db.session() as session:
            job = await repository.get_owned(session, owner_id, job_id)
            if job is None:
                return
            events = await repository.events_after(session, job_id, after, _BATCH)
        for event in events:
            progress = TrainingProgress(
                seq=event.seq, attempt=event.attempt, created_at=event.created_at, **event.data
            )
            after = event.seq
            yield _frame("progress", progress.model_dump_json(), event_id=str(event.seq))
        if events:
            quiet_since = time.monotonic()
            if len(events) == _BATCH:
                continue
        elif job.status in FINISHED_STATUSES:
            yield _frame("status", to_contract(job).model_dump_json(), event_id=str(after))
            return
        if time.monotonic() > deadline:
            return
        if time.monotonic() - quiet_since > KEEPALIVE_S:
            quiet_since = time.monotonic()
            yield b": keep-alive\n\n"
        await asyncio.sleep(poll_s)


def _frame(event: str, data: str, *, event_id: str) -> bytes:
    # JSON has no raw newlines, so one data line carries it.
    assert "\n" not in data
    return f"id: {event_id}\nevent: {event}\ndata: {data}\n\n".encode()
