"""The BFF in-process (every service down unless a test serves one) and admin tokens on it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from bff.admin.context import AdminContext
from bff.admin.scopes import ALL_SCOPES
from bff.app import create_app
from tests.support.apps import running_app
from tests.support.bff_accounts import bff_settings


@dataclass
class Admin:
    """A client of the BFF, and a way to mint admin tokens on it."""

    client: httpx.AsyncClient
    context: AdminContext

    async def token(
        self, scopes: Sequence[str] = ALL_SCOPES, ttl: timedelta = timedelta(hours=1)
    ) -> dict[str, str]:
        minted = await self.context.tokens.mint("test", scopes, ttl)
        return {"authorization": f"Bearer {minted.secret}"}

    async def audit(self, **params: Any) -> list[dict[str, Any]]:
        response = await self.client.get(
            "/admin/v1/audit", params=params, headers=await self.token(["audit:read"])
        )
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items


@pytest.fixture
async def admin(tmp_path: Path) -> AsyncIterator[Admin]:
    # The default config TTL: a change must show on this replica at once regardless.
    app = create_app(bff_settings(tmp_path))
    async with running_app(app) as client:
        yield Admin(client, app.state.admin)
