"""What the notifications service's routes need at hand, and the sends that wake its workers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from proto.notifications import (
    Broadcast,
    BroadcastResult,
    Poke,
    PokeResult,
    SendResult,
    SendToDevices,
    SendToUser,
)
from services.kit.database import Database
from services.kit.dependencies import context_dependency
from services.kit.runtime import ServiceRuntime
from services.notifications import pokes, service, topics
from services.notifications.dispatcher import Dispatcher
from services.notifications.fanout import FanOut
from services.notifications.metrics import PushMetrics
from services.notifications.settings import NotificationsSettings


@dataclass
class NotificationsContext:
    settings: NotificationsSettings
    db: Database
    metrics: PushMetrics
    # Started with the lifespan (TERN_NOTIFICATIONS_DISPATCH_ENABLED for the dispatcher).
    dispatcher: Dispatcher | None = None
    fanout: FanOut | None = None

    @classmethod
    def build(cls, runtime: ServiceRuntime) -> NotificationsContext:
        settings = runtime.settings
        assert isinstance(settings, NotificationsSettings)
        return cls(settings, runtime.db, PushMetrics(runtime.metrics.registry))

    async def send_to_user(self, owner_id: str, request: SendToUser) -> SendResult:
        """Keep the push in the outbox (idempotent), and wake this process's dispatcher."""
        result = await service.send_to_user(self.db, owner_id, request, self.settings)
        return self._dispatch(result)

    async def send_to_devices(self, owner_id: str, request: SendToDevices) -> SendResult:
        """The same, to some devices of the owner only."""
        result = await service.send_to_devices(self.db, owner_id, request, self.settings)
        return self._dispatch(result)

    async def poke(self, owner_id: str, request: Poke) -> PokeResult:
        """Queue a silent push to the owner's other devices (idempotent); wake the dispatcher."""
        result = await pokes.poke(self.db, owner_id, request, self.settings)
        if self.dispatcher is not None and not result.duplicate:
            self.dispatcher.wake()
        return result

    async def broadcast(self, topic: str, request: Broadcast) -> BroadcastResult:
        """Record a broadcast (idempotent), and wake this process's fan-out."""
        result = await topics.broadcast(self.db, topic, request, self.settings)
        if self.fanout is not None and not result.duplicate:
            self.fanout.wake()
        return result

    def _dispatch(self, result: SendResult) -> SendResult:
        if self.dispatcher is not None and not result.duplicate:
            self.dispatcher.wake()
        return result


NotificationsDep = Annotated[
    NotificationsContext, Depends(context_dependency(NotificationsContext))
]
"""What a route of the notifications service reaches: settings, database, workers."""
