"""The public REST API, one router per resource, all under /api/v1."""

from __future__ import annotations

from fastapi import APIRouter

from bff.routes import (
    app_config,
    auth,
    batch,
    dashboard,
    datasets,
    devices,
    models,
    notifications,
    push_settings,
    schema_keys,
    sessions,
    training_jobs,
    uploads,
)

API_PREFIX = "/api/v1"


def build_api_router() -> APIRouter:
    """Every public REST route of the BFF."""
    router = APIRouter(prefix=API_PREFIX)
    for module in (auth, devices, uploads, datasets, training_jobs, models, notifications):
        router.include_router(module.router)
    for module in (sessions, app_config, schema_keys, batch, dashboard):
        router.include_router(module.router)
    router.include_router(push_settings.router)
    return router
