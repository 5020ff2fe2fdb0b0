"""The fake push provider app: FCM HTTP v1, APNs and the /_fake control routes on one port."""

from __future__ import annotations

from fastapi import FastAPI

from services.fake_push.apns import build_apns_router
from services.fake_push.control import build_control_router
from services.fake_push.fast_path import ProviderFastPath
from services.fake_push.fcm import build_fcm_router
from services.fake_push.recorder import ProviderRecorder
from services.fake_push.settings import FakePushSettings
from services.kit.app_factory import create_service_app


def create_app(settings: FakePushSettings | None = None) -> FastAPI:
    """Build the fake provider; its state lives in memory for the life of the process."""
    settings = settings or FakePushSettings()
    app = create_service_app(settings, title="Tern fake push provider", migrations_dir=None)
    # No database here: readiness means the process answers.
    app.state.runtime.checks.pop("database", None)
    recorder = ProviderRecorder(
        max_recorded=settings.max_recorded, access_token_ttl_s=settings.access_token_ttl_s
    )
    app.state.recorder = recorder
    app.include_router(build_fcm_router(recorder))
    app.include_router(build_apns_router(recorder, settings.apns_token_max_age_s))
    app.include_router(build_control_router(recorder))
    # Outermost: provider traffic skips routing and the kit's per-request middleware.
    app.add_middleware(
        ProviderFastPath, recorder=recorder, token_max_age_s=settings.apns_token_max_age_s
    )
    return app
