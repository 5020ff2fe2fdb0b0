"""Fixtures of the BFF tests: settings with fast hashing, the app with every service down."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from bff.app import create_app
from bff.settings import BffSettings
from tests.support.apps import running_app
from tests.support.servers import free_port
from tests.support.settings import make_settings

JWT_SECRET = "test-jwt-secret-0123456789abcdef"
PASSWORD = "correct horse battery"


def bff_settings(data_dir: Path, **overrides: Any) -> BffSettings:
    """BFF settings for a test: cheap argon2, and every service at a port nothing listens on."""
    dead = f"http://127.0.0.1:{free_port()}"
    values: dict[str, Any] = {
        "jwt_secret": SecretStr(JWT_SECRET),
        "argon2_time_cost": 1,
        "argon2_memory_kib": 1024,
        "argon2_parallelism": 1,
        "http_retries": 0,
        "datasets_url": dead,
        "training_url": dead,
        "inference_url": dead,
        "notifications_url": dead,
    }
    values.update(overrides)
    return make_settings(BffSettings, data_dir, **values)


@pytest.fixture
def settings(tmp_path: Path) -> BffSettings:
    return bff_settings(tmp_path)


@pytest.fixture
async def client(settings: BffSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(create_app(settings)) as http:
        yield http


async def sign_up(
    client: httpx.AsyncClient, email: str = "ada@example.com", device_id: str = "device-1"
) -> dict[str, Any]:
    """Register a user over the API; the answer's JSON (tokens and user)."""
    response = await client.post(
        "/api/v1/auth/register",
        json={"email": email, "password": PASSWORD},
        headers={"X-Device-ID": device_id},
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"authorization": f"Bearer {tokens['access_token']}"}
