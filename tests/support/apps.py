"""Run one app in-process (lifespan included) for unit and endpoint tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from services.kit.service_auth import ServiceTokenIssuer

TEST_SECRET = "test-service-token-secret-0123456789"


@asynccontextmanager
async def running_app(
    app: FastAPI, base_url: str = "http://testserver"
) -> AsyncIterator[httpx.AsyncClient]:
    """Start the app's lifespan (migrations, workers) and give a client that calls it in-process."""
    async with app.router.lifespan_context(app):
        # Like a real server: an unhandled error becomes the 500 response, not a test exception.
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            yield client


def service_headers(
    audience: str, user_id: str | None = None, caller: str = "bff", secret: str = TEST_SECRET
) -> dict[str, str]:
    """Authorization header of a valid service token for `audience`, acting for `user_id`."""
    token = ServiceTokenIssuer(secret, caller).mint(audience, user_id)
    return {"authorization": f"Bearer {token}"}
