"""The fake push provider app: FCM HTTP v1, APNs and the /_fake control routes on one port."""

from __future__ import annotations

from fastapi import FastAPI

from services.fake_push.control import build_control_router
from services.fake_push.fcm import build_fcm_router
from services.fake_push.provider_streams import ProviderFrontDoor, ProviderRoutes
from services.fake_push.recorder import ProviderRecorder
from services.fake_push.settings import FakePushSettings
from services.kit.app_factory import create_service_app


def create_app(settings: FakePushSettings | None = None) -> FastAPI:
    """Build the fake provider; its state lives in memory for the life of the process.

    Pushes and sends are answered by `ProviderFrontDoor` in front of the app; the control,
    token and health routes by the app itself.
    """
    settings = settings or FakePushSettings()
    app = create_service_app(settings, title="Tern fake push provider", migrations_dir=None)
    # No database here: readiness means the process answers.
    app.state.runtime.checks.pop("database", None)
    recorder = ProviderRecorder(
        max_recorded=settings.max_recorded, access_token_ttl_s=settings.access_token_ttl_s
    )
    app.state.recorder = recorder
    app.include_router(build_fcm_router(recorder))
    app.include_router(build_control_router(recorder))
    app.add_middleware(
        ProviderFrontDoor, routes=ProviderRoutes(recorder, settings.apns_token_max_age_s)
    )
    return app
