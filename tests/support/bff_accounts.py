"""Accounts of the BFF under test: settings with fast hashing and dead services, sign-up, tokens."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from bff.settings import BffSettings
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
