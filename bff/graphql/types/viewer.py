"""The signed-in user and everything of theirs; each list comes from its own service.

A list is read through the BFF's kept pages, like the dashboard's sections: answered from
memory while the user's change version at its service is unchanged, else fetched within the
dashboard's section timeout. The lists are nullable: when one service is down its field is
null with an error naming it (SERVICE_UNAVAILABLE), and the rest of the answer still arrives;
when an earlier copy of that page is kept, the copy is answered instead, with `stale: true`
and its age, and the error is added with `extensions.stale: true`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial
from typing import Any, Protocol, TypeVar

import strawberry
from strawberry.types import Info

from bff import read_versions
from bff.app_config.service import Client, evaluate
from bff.auth.repository import as_utc
from bff.auth.tables import User
from bff.clients.reads import DownstreamPage
from bff.graphql.context import Context, FieldWarning
from bff.graphql.types.app_config import AppConfig
from bff.graphql.types.dataset import Dataset
from bff.graphql.types.described import described
from bff.graphql.types.device import Device
from bff.graphql.types.model import Model
from bff.graphql.types.node import Node, to_global_id
from bff.graphql.types.notification import Notification
from bff.graphql.types.page import Page, page_from, page_of, page_size
from bff.graphql.types.preferences import Preferences
from bff.graphql.types.session import Session
from bff.graphql.types.training_job import TrainingJob
from bff.mobile_headers import current_mobile_headers
from services.kit.errors import Action, ApiError
from services.kit.http_client import DownstreamUnavailable

T = TypeVar("T", covariant=True)


class _FromJson(Protocol[T]):
    """A GraphQL type made from one item of a service's page."""

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> T: ...


@strawberry.type(
    description="The signed-in user. `id` is the user's uuid; `globalId` the Relay id."
)
class Viewer(Node):
    id: strawberry.ID
    email: str
    created_at: datetime
    user_id: strawberry.Private[str]

    @classmethod
    def from_user(cls, user: User) -> Viewer:
        return cls(
            id=strawberry.ID(str(user.id)),
            global_id=to_global_id("Viewer", user.id),
            email=user.email,
            created_at=as_utc(user.created_at),
            user_id=str(user.id),
        )

    @strawberry.field
    async def datasets(
        self, info: Info[Context, None], first: int | None = None, after: str | None = None
    ) -> Page[Dataset] | None:
        n = page_size(first, after)
        fetch = partial(info.context.clients.datasets.list_datasets, self.user_id, after, n)
        return await _kept(info, "datasets", f"datasets:{n}:{after}", self.user_id, fetch, Dataset)

    @strawberry.field
    async def training_jobs(
        self, info: Info[Context, None], first: int | None = None, after: str | None = None
    ) -> Page[TrainingJob] | None:
        n = page_size(first, after)
        fetch = partial(info.context.clients.training.list_jobs, self.user_id, after, n)
        key = f"jobs:{n}:{after}"
        return await _kept(info, "training", key, self.user_id, fetch, TrainingJob)

    @strawberry.field
    async def models(
        self, info: Info[Context, None], first: int | None = None, after: str | None = None
    ) -> Page[Model] | None:
        n = page_size(first, after)
        fetch = partial(info.context.clients.inference.list_models, self.user_id, after, n)
        return await _kept(info, "inference", f"models:{n}:{after}", self.user_id, fetch, Model)

    @strawberry.field
    async def notifications(
        self,
        info: Info[Context, None],
        first: int | None = None,
        after: str | None = None,
        unread: bool = False,
    ) -> Page[Notification] | None:
        n = page_size(first, after)
        inbox = info.context.clients.notifications
        fetch = partial(inbox.list_notifications, self.user_id, after, n, unread=unread)
        key = f"inbox:{'unread' if unread else 'all'}:{n}:{after}"
        return await _kept(info, "notifications", key, self.user_id, fetch, Notification)

    @described("How many notifications are unread.")
    async def unread_count(self, info: Info[Context, None]) -> int | None:
        counted = await info.context.clients.notifications.unread_count(self.user_id)
        return counted.unread

    @described("Signed-in sessions (devices), newest first.")
    async def sessions(
        self, info: Info[Context, None], first: int | None = None, after: str | None = None
    ) -> Page[Session]:
        n = page_size(first, after)
        user = info.context.require_user()
        read_versions.unversioned()  # the BFF's own table: no service's version covers it
        rows, next_cursor = await info.context.auth.sessions(user.user_id, after, n)
        return page_from(rows, next_cursor, partial(Session.from_row, current_id=user.session_id))

    @described("Devices registered for pushes.")
    async def devices(
        self, info: Info[Context, None], first: int | None = None, after: str | None = None
    ) -> Page[Device] | None:
        n = page_size(first, after)
        page = await info.context.clients.notifications.list_devices(self.user_id, after, n)
        return page_from(page.items, page.next_cursor, Device.from_model)

    @described("Push preferences: timezone, quiet hours, muted categories.")
    async def push_preferences(self, info: Info[Context, None]) -> Preferences | None:
        preferences = await info.context.clients.notifications.get_preferences(self.user_id)
        return Preferences.from_model(preferences)

    @described("The app config as this device sees it (its mobile headers).")
    async def app_config(self, info: Info[Context, None]) -> AppConfig:
        read_versions.unversioned()  # it depends on the device's headers and the operators
        mobile = current_mobile_headers()
        client = Client(mobile.platform, mobile.app_version, mobile.device_id)
        return AppConfig.from_model(evaluate(await info.context.bff.app_config.snapshot(), client))


async def _kept(
    info: Info[Context, None],
    service: str,
    key: str,
    user_id: str,
    fetch: Callable[[], Awaitable[DownstreamPage]],
    item_type: type[_FromJson[T]],
) -> Page[T]:
    """The page from the kept pages (current) or its service, within the section timeout; a
    stale copy, marked, while the service cannot answer; else the service's error."""
    pages = info.context.bff.pages
    timeout_s = info.context.bff.settings.dashboard_section_timeout_s
    convert = item_type.from_json
    try:
        section = await asyncio.wait_for(pages.read(service, user_id, key, fetch), timeout_s)
    except (DownstreamUnavailable, TimeoutError) as exc:
        error = _timed_out(timeout_s) if isinstance(exc, TimeoutError) else exc.to_api_error()
        stale = pages.last_good(service, user_id, key)
        if stale is None:
            raise error from exc
        age_s = int(stale.age_s)
        info.context.warnings.append(FieldWarning(_path_of(info), error, age_s))
        return page_of(stale.page, convert, stale=True, age_s=age_s)
    return page_of(section.page, convert)


def _timed_out(timeout_s: float) -> ApiError:
    # The dashboard's code for a section that took too long.
    return ApiError(
        504,
        "SECTION_TIMEOUT",
        f"this list took longer than {timeout_s} s",
        action=Action.RETRY,
        retry_after_s=1,
    )


def _path_of(info: Info[Context, None]) -> list[str | int]:
    return list(info.path.as_list())
