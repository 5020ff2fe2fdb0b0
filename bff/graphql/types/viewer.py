"""The signed-in user and everything of theirs; each list comes from its own service.

The lists are nullable: when one service is down its field is null with an error naming it,
and the rest of the answer still arrives.
"""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from bff.auth.repository import as_utc
from bff.auth.tables import User
from bff.graphql.context import Context
from bff.graphql.types.dataset import Dataset
from bff.graphql.types.model import Model
from bff.graphql.types.notification import Notification
from bff.graphql.types.page import Page, page_of
from bff.graphql.types.training_job import TrainingJob
from services.kit.pagination import clamp_limit


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
        page = await info.context.clients.datasets.list_datasets(
            self.user_id, after, clamp_limit(first)
        )
        return page_of(page, Dataset.from_proto)

    @strawberry.field
    async def training_jobs(
        self, info: Info[Context, None], first: int | None = None, after: str | None = None
    ) -> Page[TrainingJob] | None:
        page = await info.context.clients.training.list_jobs(
            self.user_id, after, clamp_limit(first)
        )
        return page_of(page, TrainingJob.from_proto)

    @strawberry.field
    async def models(
        self, info: Info[Context, None], first: int | None = None, after: str | None = None
    ) -> Page[Model] | None:
        page = await info.context.clients.inference.list_models(
            self.user_id, after, clamp_limit(first)
        )
        return page_of(page, Model.from_proto)

    @strawberry.field
    async def notifications(
        self,
        info: Info[Context, None],
        first: int | None = None,
        after: str | None = None,
        unread: bool = False,
    ) -> Page[Notification] | None:
        page = await info.context.clients.notifications.list_notifications(
            self.user_id, after, clamp_limit(first), unread=unread
        )
        return page_of(page, Notification.from_proto)
