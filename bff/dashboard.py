"""The dashboard: the viewer's datasets, models, recent jobs and unread notifications at once.

Each section is a page kept in `KeptPages`: answered from memory while the user's change
version at its service is unchanged, else fetched, all sections concurrently, each with its
own timeout. A section that fails carries an error entry instead of failing the whole answer;
when an earlier good copy of it is kept, that copy is served too, marked stale with its age
(stale-if-error, so a phone on a train still sees its models when one service is down).

When every section is current, the answer's validator is the versions it was built from: a
phone's If-None-Match is then answered 304, and a repeated read gets the bytes encoded last
time, without any service being called.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from bff.clients import ServiceClients
from bff.clients.notifications import unread_count_of
from bff.clients.reads import DownstreamPage
from bff.kept_pages import KeptPage, KeptPages
from proto.datasets import Dataset
from proto.inference import Model
from proto.notifications import Notification
from proto.training import TrainingJob
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
    """The contract of GET /api/v1/dashboard (the answer is written from plain data)."""

    datasets: Section[Dataset]
    models: Section[Model]
    jobs: Section[TrainingJob]
    notifications: Section[Notification]
    unread_count: int | None = None


@dataclass(frozen=True, slots=True)
class DashboardLimits:
    page_size: int
    timeout_s: float


@dataclass(frozen=True, slots=True)
class DashboardView:
    """The dashboard as plain data, and its validator when it was built from current pages."""

    data: dict[str, Any]
    validator: str | None


@dataclass(frozen=True, slots=True)
class _Part:
    name: str
    service: str
    key: str
    fetch: Callable[[], Awaitable[DownstreamPage]]


async def build_dashboard(
    clients: ServiceClients, pages: KeptPages, user_id: str, limits: DashboardLimits
) -> DashboardView:
    """Every section, from memory where current, else fetched concurrently."""
    datasets, inference = clients.datasets, clients.inference
    training, notifications = clients.training, clients.notifications
    n = limits.page_size
    parts = (
        _Part(
            "datasets",
            "datasets",
            f"datasets:{n}",
            partial(datasets.list_datasets, user_id, None, n),
        ),
        _Part(
            "models", "inference", f"models:{n}", partial(inference.list_models, user_id, None, n)
        ),
        _Part("jobs", "training", f"jobs:{n}", partial(training.list_jobs, user_id, None, n)),
        # Unread only, with their count; the cursor goes on with ?unread=true.
        _Part(
            "notifications",
            "notifications",
            f"inbox:unread:count:{n}",
            partial(
                notifications.list_notifications, user_id, None, n, unread=True, count_unread=True
            ),
        ),
    )
    # Current pages come from memory as they are; only the others are fetched (together).
    outcomes: list[tuple[dict[str, Any], KeptPage | None] | None] = [
        _shown(page) if (page := pages.current(part.service, user_id, part.key)) else None
        for part in parts
    ]
    missing = [index for index, outcome in enumerate(outcomes) if outcome is None]
    if missing:
        fetched = await asyncio.gather(
            *(_section(parts[i], pages, user_id, limits.timeout_s) for i in missing)
        )
        for index, got in zip(missing, fetched, strict=True):
            outcomes[index] = got
    data: dict[str, Any] = {}
    versions: list[str] = []
    for part, shown in zip(parts, outcomes, strict=True):
        assert shown is not None
        body, section = shown
        data[part.name] = body
        fresh = body["error"] is None and section is not None and section.version is not None
        versions.append(f"{part.service}={section.version}" if fresh and section else "")
    inbox = outcomes[-1][1] if outcomes[-1] else None
    fresh_inbox = inbox is not None and data["notifications"]["error"] is None
    data["unread_count"] = unread_count_of(inbox.page) if inbox and fresh_inbox else None
    validator = None
    if all(versions):
        validator = f"dashboard|{user_id}|{n}|{'|'.join(versions)}"
    return DashboardView(data, validator)


async def _section(
    part: _Part, pages: KeptPages, user_id: str, timeout_s: float
) -> tuple[dict[str, Any], KeptPage | None]:
    """The section's JSON, and the page it shows (None when there is nothing to show)."""
    try:
        section = await asyncio.wait_for(
            pages.read(part.service, user_id, part.key, part.fetch), timeout_s
        )
    except (ApiError, DownstreamUnavailable, TimeoutError) as exc:
        error = _section_error(exc, timeout_s)
        _log.warning("dashboard_section_failed", section=part.name, code=error["code"])
        stale = pages.last_good(part.service, user_id, part.key)
        if stale is None:
            return {**_EMPTY, "error": error}, None
        page = stale.page
        body = {**page.as_json(), "error": error, "stale": True, "age_s": int(stale.age_s)}
        return body, stale
    return _shown(section)


def _shown(section: KeptPage) -> tuple[dict[str, Any], KeptPage]:
    return {**section.page.as_json(), "error": None, "stale": False, "age_s": None}, section


_EMPTY: dict[str, Any] = {"items": [], "next_cursor": None, "stale": False, "age_s": None}


def _section_error(exc: Exception, timeout_s: float) -> dict[str, Any]:
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
    return {
        "code": body["code"],
        "message": body["message"],
        "user_message": body["user_message"],
        "action": body["action"],
        "retry_after_s": body["retry"]["after_seconds"],
    }
