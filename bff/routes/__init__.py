"""The public REST API, one router per resource, all under /api/v1."""

from __future__ import annotations

from fastapi import APIRouter

from bff.routes import (
    auth,
    datasets,
    devices,
    models,
    notifications,
    training_jobs,
    uploads,
)

API_PREFIX = "/api/v1"


def build_api_router() -> APIRouter:
    """Every public REST route of the BFF."""
    router = APIRouter(prefix=API_PREFIX)
    for module in (auth, devices, uploads, datasets, training_jobs, models, notifications):
        router.include_router(module.router)
    return router
