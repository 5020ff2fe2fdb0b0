"""Fixtures of the request-signing tests: a BFF whose iOS sessions must sign, and a phone."""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from bff.app import create_app
from bff.settings import BffSettings
from bff.signing.canonical import sign
from tests.support.apps import running_app
from tests.support.bff_accounts import PASSWORD, bff_settings


@dataclass
class Phone:
    """A signed-in install: its tokens and signing key, and a client that signs for it."""

    http: httpx.AsyncClient
    tokens: dict[str, Any]
    platform: str | None = "ios"

    @property
    def key(self) -> bytes:
        encoded = self.tokens["signing_key"]
        return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))

    def headers(self) -> dict[str, str]:
        headers = {"authorization": f"Bearer {self.tokens['access_token']}"}
        if self.platform is not None:
            headers["X-Platform"] = self.platform
        return headers

    def signature(
        self,
        method: str,
        target: str,
        body: bytes = b"",
        *,
        key: bytes | None = None,
        timestamp: int | None = None,
        nonce: str | None = None,
    ) -> dict[str, str]:
        return sign(
            key or self.key,
            method,
            target,
            body,
            int(time.time()) if timestamp is None else timestamp,
            nonce or secrets.token_urlsafe(16),
        )

    async def signed(
        self, method: str, target: str, json: Any = None, **options: Any
    ) -> httpx.Response:
        """`method target` signed as sent."""
        body = b"" if json is None else orjson.dumps(json)
        headers = {**self.headers(), **self.signature(method, target, body, **options)}
        if json is not None:
            headers["content-type"] = "application/json"
        return await self.http.request(method, target, content=body, headers=headers)


async def sign_in(
    http: httpx.AsyncClient,
    email: str = "ada@example.com",
    device_id: str = "phone-1",
    platform: str | None = "ios",
) -> Phone:
    """Register (or sign in again) on a device; the phone that keeps the answer."""
    headers = {"X-Device-ID": device_id}
    if platform is not None:
        headers["X-Platform"] = platform
    credentials = {"email": email, "password": PASSWORD}
    response = await http.post("/api/v1/auth/register", json=credentials, headers=headers)
    if response.status_code == 409:
        response = await http.post("/api/v1/auth/login", json=credentials, headers=headers)
    assert response.is_success, response.text
    return Phone(http, response.json(), platform)


def signing_settings(data_dir: Path, **overrides: Any) -> BffSettings:
    """iOS sessions must sign; Android ones need not."""
    values: dict[str, Any] = {"signed_requests": "ios", **overrides}
    return bff_settings(data_dir, **values)


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(create_app(signing_settings(tmp_path))) as http:
        yield http


def error_of(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    return error
