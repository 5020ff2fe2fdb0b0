"""The dashboard: the viewer's datasets, models, recent jobs and unread notifications at once.

Each section is fetched concurrently with its own timeout. A section that fails carries an
error entry instead of failing the whole answer; when an earlier good copy of it is cached,
that copy is served too, marked stale with its age (stale-if-error, so a phone on a train
still sees its models when one service is down).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import orjson
from pydantic import BaseModel

from bff.clients import ServiceClients
from proto.common import Page
from proto.datasets import Dataset
from proto.inference import Model
from proto.notifications import Notification
from proto.training import TrainingJob
from services.kit.cache import Cache
from services.kit.errors import Action, ApiError
from services.kit.http_client import DownstreamUnavailable
from services.kit.structured_logging import get_logger

T = TypeVar("T")
_log = get_logger(__name__)


class SectionError(BaseModel):
    """Why a section could not be fetched now (the mobile error, without the envelope)."""

    code: str
    message: str
    user_message: str
    action: str
    retry_after_s: int | None = None


class Section(BaseModel, Generic[T]):
    """One part of the dashboard: a first page, or an error (and maybe a stale copy)."""

    items: list[T] = []
    next_cursor: str | None = None
    error: SectionError | None = None
    stale: bool = False
    age_s: int | None = None


class Dashboard(BaseModel):
    datasets: Section[Dataset]
    models: Section[Model]
    jobs: Section[TrainingJob]
    notifications: Section[Notification]
    unread_count: int | None = None


@dataclass(frozen=True, slots=True)
class DashboardLimits:
    page_size: int
    timeout_s: float
    cache_ttl_s: float


async def build_dashboard(
    clients: ServiceClients, cache: Cache, user_id: str, limits: DashboardLimits
) -> Dashboard:
    """Every section, fetched concurrently."""
    n = limits.page_size
    fetchers: dict[str, Callable[[], Awaitable[Page[Any]]]] = {
        "datasets": lambda: clients.datasets.list_datasets(user_id, None, n),
        "models": lambda: clients.inference.list_models(user_id, None, n),
        "jobs": lambda: clients.training.list_jobs(user_id, None, n),
        # Unread only; its cursor goes on with GET /api/v1/notifications?unread=true.
        "notifications": lambda: clients.notifications.list_notifications(
            user_id, None, n, unread=True
        ),
    }
    sections = await asyncio.gather(
        *(_section(name, fetch, cache, user_id, limits) for name, fetch in fetchers.items()),
        _unread_count(clients, user_id, limits.timeout_s),
    )
    return Dashboard.model_validate(
        {**dict(zip(fetchers, sections[:-1], strict=True)), "unread_count": sections[-1]}
    )


async def _unread_count(clients: ServiceClients, user_id: str, timeout_s: float) -> int | None:
    try:
        return (
            await asyncio.wait_for(clients.notifications.unread_count(user_id), timeout_s)
        ).unread
    except (ApiError, DownstreamUnavailable, TimeoutError):
        return None


async def _section(
    name: str,
    fetch: Callable[[], Awaitable[Page[Any]]],
    cache: Cache,
    user_id: str,
    limits: DashboardLimits,
) -> dict[str, Any]:
    key = f"dashboard:{user_id}:{name}"
    try:
        page = await asyncio.wait_for(fetch(), limits.timeout_s)
    except (ApiError, DownstreamUnavailable, TimeoutError) as exc:
        error = _section_error(exc, limits.timeout_s)
        _log.warning("dashboard_section_failed", section=name, code=error.code)
        return await _stale_copy(cache, key, error)
    fresh = page.model_dump(mode="json")
    stored = orjson.dumps({"at": time.time(), "page": fresh})
    await cache.set(key, stored, limits.cache_ttl_s)
    return fresh


async def _stale_copy(cache: Cache, key: str, error: SectionError) -> dict[str, Any]:
    cached = await cache.get(key)
    if cached is None:
        return {"error": error}
    entry = orjson.loads(cached)
    age = max(0, int(time.time() - entry["at"]))
    return {**entry["page"], "error": error, "stale": True, "age_s": age}


def _section_error(exc: Exception, timeout_s: float) -> SectionError:
    if isinstance(exc, TimeoutError):
        error = ApiError(
            504,
            "SECTION_TIMEOUT",
            f"this section took longer than {timeout_s} s",
            action=Action.RETRY,
            retry_after_s=1,
        )
    elif isinstance(exc, DownstreamUnavailable):
        error = exc.to_api_error()
    else:
        assert isinstance(exc, ApiError)
        error = exc
    body = error.body()["error"]
    return SectionError(
        code=body["code"],
        message=body["message"],
        user_message=body["user_message"],
        action=body["action"],
        retry_after_s=body["retry"]["after_seconds"],
    )
