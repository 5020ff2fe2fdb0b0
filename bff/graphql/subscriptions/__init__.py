"""The Subscription root: a training job's progress, the inbox, and the sync backbone's pokes.

Served over graphql-transport-ws (WebSocket on /graphql) and graphql-sse (the same path with
`Accept: text/event-stream`). Every field needs a signed-in user and holds one of their
subscriptions in the hub while it runs (see `hub`).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import orjson
import strawberry
from strawberry.types import Info

from bff.context import BffContext
from bff.graphql.context import Context
from bff.graphql.context_getter import connection_token
from bff.graphql.subscriptions.data_change import DataChange
from bff.graphql.subscriptions.hub import Mailbox, SubscriptionHub, until_ended
from bff.graphql.subscriptions.server_sent_events import read_events
from bff.graphql.subscriptions.training_job_update import TrainingJobUpdate
from bff.graphql.subscriptions.training_progress import TrainingProgress
from bff.graphql.types.notification import Notification
from bff.graphql.types.training_job import TrainingJob
from bff.sync.pull import remote_reader
from services.kit.errors import invalid_input

HUB_STATE = "graphql_subscription_hub"  # app.state attribute of the app's SubscriptionHub
_NOTIFICATIONS = "notifications"
_FEED_KIND = "notification"
_FEED_PAGE = 100
_FEED_TIMEOUT_S = 5.0


@contextlib.asynccontextmanager
async def serving_subscriptions(state: Any, bff: BffContext) -> AsyncIterator[SubscriptionHub]:
    """The app's hub while it runs (on `state`), told of every change the services' watch
    streams bring; the BFF's own bus events go to its `note` too (see bff/app.py)."""
    hub = SubscriptionHub(
        bff.auth.authenticate, bff.settings.graphql_subscriptions_per_user, bff.runtime.cache
    )
    setattr(state, HUB_STATE, hub)
    bff.known.listeners.append(hub.note)
    try:
        async with contextlib.aclosing(hub):
            yield hub
    finally:
        bff.known.listeners.remove(hub.note)


@contextlib.asynccontextmanager
async def _subscribed(info: Info[Context, None]) -> AsyncIterator[tuple[str, Mailbox]]:
    """The signed-in user's id and a mailbox of their changes, while the stream runs."""
    context = info.context
    user = context.require_user()
    token = connection_token(context) or ""
    assert context.request is not None
    hub: SubscriptionHub = getattr(context.request.app.state, HUB_STATE)
    async with hub.listening(user.id, token) as box:
        yield user.id, box


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def changes(self, info: Info[Context, None]) -> AsyncGenerator[DataChange, None]:
        """The viewer's data changed somewhere (any device, or a service's own work): sync."""
        async with _subscribed(info) as (_, box):
            while True:
                for service, version in (await box.changes()).items():
                    info.context.start_operation()
                    yield DataChange(service=service, version=version)

    @strawberry.subscription
    async def notifications(self, info: Info[Context, None]) -> AsyncGenerator[Notification, None]:
        """Each notification of the viewer's inbox that arrives or changes (read) from now on."""
        async with _subscribed(info) as (user_id, box):
            read = remote_reader(
                info.context.bff.runtime.client(_NOTIFICATIONS), timeout_s=_FEED_TIMEOUT_S
            )
            since = (await read(user_id, 0, 1, [_FEED_KIND], False)).last_seq
            while True:
                version = (await box.changes()).get(_NOTIFICATIONS)
                while version is not None and version > since:
                    page = await read(user_id, since, _FEED_PAGE, [_FEED_KIND], False)
                    if page.reset:  # fell behind the pruned tombstones: go on from now
                        since = page.last_seq
                        break
                    for entry in page.entries:
                        if entry.op == "upsert" and entry.data is not None:
                            info.context.start_operation()
                            yield Notification.from_json(entry.data)
                    since = page.next_since
                    if not page.has_more:
                        break

    @strawberry.subscription
    async def training_job(
        self, info: Info[Context, None], id: strawberry.ID, after: int | None = None
    ) -> AsyncGenerator[TrainingJobUpdate, None]:
        """The job's progress steps (after step `after`, when given), then the finished job."""
        job_id = _job_id(id)
        async with (
            _subscribed(info) as (user_id, box),
            info.context.clients.training.job_events(
                user_id, job_id, None if after is None else str(after)
            ) as chunks,
        ):
            async for event, data in until_ended(box, read_events(chunks)):
                info.context.start_operation()
                if event == "progress":
                    yield TrainingJobUpdate(progress=TrainingProgress.from_json(orjson.loads(data)))
                elif event == "status":
                    yield TrainingJobUpdate(job=TrainingJob.from_json(orjson.loads(data)))


def _job_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise invalid_input("INVALID_ID", "id is not a training job id") from None
