"""The public REST API, one router per resource, all under /api/v1."""

from __future__ import annotations

from collections.abc import Iterable
from types import ModuleType

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


# FastAPI asks the included routers in turn, each passed costing a request a few
# microseconds (auth's and push_settings' routes are matched one by one): the routes a phone
# calls most are included first, then GraphQL (bff/app.py), then the rest.
FIRST_API_ROUTES = (dashboard, sync)
OTHER_API_ROUTES = (
    datasets,
    training_jobs,
    models,
    notifications,
    uploads,
    devices,
    sessions,
    app_config,
    schema_keys,
    batch,
    auth,
    push_settings,
    dictionaries,
)


API_ROUTES = FIRST_API_ROUTES + OTHER_API_ROUTES


def include_api_routes(app: FastAPI, modules: Iterable[ModuleType]) -> None:
    """Public REST routes of the BFF, one router per resource under /api/v1.

    Each router is included into the app itself (not into a router of its own under the
    prefix): a request is then matched against one router's routes, not all of them."""
    for module in modules:
        app.include_router(module.router, prefix=API_PREFIX)
