"""The signed-in user and everything of theirs; each list comes from its own service.

A list is read through the BFF's kept pages (`Sections`): answered from memory while the
user's change version at its service is unchanged, like the dashboard's sections. The lists
are nullable: when one service is down its field is null with an error naming it, and the
rest of the answer still arrives.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial

import strawberry
from strawberry.types import Info

from bff.auth.repository import as_utc
from bff.auth.tables import User
from bff.clients.reads import DownstreamPage
from bff.graphql.context import Context
from bff.graphql.types.dataset import Dataset
from bff.graphql.types.model import Model
from bff.graphql.types.notification import Notification
from bff.graphql.types.page import Page, page_of
from bff.graphql.types.training_job import TrainingJob
from services.kit.paging import clamp_limit


@strawberry.type
class Viewer:
    id: strawberry.ID
    email: str
    created_at: datetime
    user_id: strawberry.Private[str]

    @classmethod
    def from_user(cls, user: User) -> Viewer:
        return cls(
            id=strawberry.ID(str(user.id)),
            email=user.email,
            created_at=as_utc(user.created_at),
            user_id=str(user.id),
        )

    @strawberry.field
    async def datasets(
        self, info: Info[Context, None], first: int | None = None, after: str | None = None
    ) -> Page[Dataset] | None:
        n = clamp_limit(first)
        fetch = partial(info.context.clients.datasets.list_datasets, self.user_id, after, n)
        page = await _read(info, "datasets", f"datasets:{n}:{after}", self.user_id, fetch)
        return page_of(page, Dataset.from_json)

    @strawberry.field
    async def training_jobs(
        self, info: Info[Context, None], first: int | None = None, after: str | None = None
    ) -> Page[TrainingJob] | None:
        n = clamp_limit(first)
        fetch = partial(info.context.clients.training.list_jobs, self.user_id, after, n)
        page = await _read(info, "training", f"jobs:{n}:{after}", self.user_id, fetch)
        return page_of(page, TrainingJob.from_json)

    @strawberry.field
    async def models(
        self, info: Info[Context, None], first: int | None = None, after: str | None = None
    ) -> Page[Model] | None:
        n = clamp_limit(first)
        fetch = partial(info.context.clients.inference.list_models, self.user_id, after, n)
        page = await _read(info, "inference", f"models:{n}:{after}", self.user_id, fetch)
        return page_of(page, Model.from_json)

    @strawberry.field
    async def notifications(
        self,
        info: Info[Context, None],
        first: int | None = None,
        after: str | None = None,
        unread: bool = False,
    ) -> Page[Notification] | None:
        n = clamp_limit(first)
        inbox = info.context.clients.notifications
        fetch = partial(inbox.list_notifications, self.user_id, after, n, unread=unread)
        key = f"inbox:{'unread' if unread else 'all'}:{n}:{after}"
        page = await _read(info, "notifications", key, self.user_id, fetch)
        return page_of(page, Notification.from_json)


async def _read(
    info: Info[Context, None],
    service: str,
    key: str,
    user_id: str,
    fetch: Callable[[], Awaitable[DownstreamPage]],
) -> DownstreamPage:
    section = await info.context.bff.pages.read(service, user_id, key, fetch)
    return section.page
