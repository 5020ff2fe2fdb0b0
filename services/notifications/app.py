"""The notifications service app: devices, send (outbox), inbox, and the push dispatcher."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from pathlib import Path

from fastapi import FastAPI

from services.kit.app_factory import create_service_app
from services.kit.background import running
from services.kit.runtime import ServiceRuntime
from services.notifications.apns import ApnsSender
from services.notifications.context import NotificationsContext
from services.notifications.credentials import load_apns_key, load_service_account
from services.notifications.dispatcher import Dispatcher
from services.notifications.endpoints import router
from services.notifications.fanout import FanOut
from services.notifications.fcm import FcmSender
from services.notifications.push_types import PushSender
from services.notifications.settings import NotificationsSettings
from services.notifications.tables import FEED

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def create_app(settings: NotificationsSettings | None = None) -> FastAPI:
    """Build the notifications service; the dispatcher and the fan-out start with the lifespan."""
    settings = settings or NotificationsSettings()

    async def start_workers(runtime: ServiceRuntime, stack: AsyncExitStack) -> None:
        context: NotificationsContext = app.state.context
        dispatcher: Dispatcher | None = None
        if settings.dispatch_enabled:
            senders = await asyncio.to_thread(build_senders, settings)
            for sender in senders.values():
                stack.push_async_callback(sender.aclose)
                # Credentials ready before the first push (not on its path); in the background.
                await stack.enter_async_context(running(sender.warm_up()))
            dispatcher = Dispatcher(runtime.db, senders, settings, context.metrics)
            context.dispatcher = dispatcher
            await stack.enter_async_context(running(dispatcher.run_forever()))
        fanout = FanOut(runtime.db, settings, on_page=dispatcher.wake if dispatcher else _nothing)
        context.fanout = fanout
        await stack.enter_async_context(running(fanout.run_forever()))

    app = create_service_app(
        settings,
        title="Tern notifications",
        migrations_dir=MIGRATIONS_DIR,
        startup=start_workers,
        context=NotificationsContext.build,
        change_feed=FEED,
    )
    app.include_router(router)
    return app


def build_senders(settings: NotificationsSettings) -> dict[str, PushSender]:
    """One sender per enabled provider, keyed by device platform."""
    senders: dict[str, PushSender] = {}
    if settings.fcm_enabled:
        senders["android"] = FcmSender(settings, load_service_account(settings))
    if settings.apns_enabled:
        senders["ios"] = ApnsSender(settings, load_apns_key(settings))
    return senders


def _nothing() -> None:
    return None
