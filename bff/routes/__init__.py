"""The public REST API, one router per resource, all under /api/v1."""

from __future__ import annotations

from fastapi import FastAPI

from bff.routes import (
    app_config,
    auth,
    batch,
    dashboard,
    datasets,
    devices,
    dictionaries,
    models,
    notifications,
    push_settings,
    schema_keys,
    sessions,
    sync,
    training_jobs,
    uploads,
)

API_PREFIX = "/api/v1"


def include_api_routes(app: FastAPI) -> None:
    """Every public REST route of the BFF, one router per resource under /api/v1.

    Each router is included into the app itself (not into a router of its own under the
    prefix): a request is then matched against one router's routes, not all of them."""
    for module in (dashboard, datasets, training_jobs, models, notifications, uploads, devices):
        app.include_router(module.router, prefix=API_PREFIX)
    for module in (
        sessions,
        app_config,
        schema_keys,
        batch,
        auth,
        push_settings,
        sync,
        dictionaries,
    ):
        app.include_router(module.router, prefix=API_PREFIX)
