"""The notifications service under test, its fake provider, and helpers to drive both."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import sqlalchemy as sa
from fastapi import FastAPI

from services.notifications.app import create_app
from services.notifications.dispatcher import Dispatcher
from services.notifications.settings import NotificationsSettings
from services.notifications.tables import DeliveryRow
from tests.support.apps import running_app, service_headers
from tests.support.polling import eventually

USER_A = "user-a"
USER_B = "user-b"


@dataclass
class Harness:
    """The service under test, its fake provider, and helpers to drive both."""

    app: FastAPI
    client: httpx.AsyncClient
    fake: httpx.AsyncClient

    def headers(self, user: str = USER_A) -> dict[str, str]:
        return service_headers("notifications", user)

    async def register(
        self, device_id: str, token: str, platform: str, user: str = USER_A
    ) -> httpx.Response:
        response = await self.client.put(
            f"/internal/v1/devices/{device_id}",
            json={"token": token, "platform": platform, "app_version": "1.4.0"},
            headers=self.headers(user),
        )
        assert response.status_code == 200, response.text
        return response

    async def send(self, user: str = USER_A, **fields: Any) -> httpx.Response:
        body = {"title": "Model ready", "idempotency_key": "k-1", **fields}
        return await self.client.post("/internal/v1/send", json=body, headers=self.headers(user))

    async def received(self, **params: str) -> list[dict[str, Any]]:
        response = await self.fake.get("/_fake/received", params=params)
        result: list[dict[str, Any]] = response.json()
        return result

    async def fail_next(self, platform: str, status: int, reason: str, **extra: Any) -> None:
        body = {"platform": platform, "status": status, "reason": reason, **extra}
        assert (await self.fake.post("/_fake/failures", json=body)).status_code == 201

    async def delivery_statuses(self) -> list[tuple[str, str | None]]:
        async with self.app.state.runtime.db.session() as session:
            rows = await session.execute(
                sa.select(DeliveryRow.status, DeliveryRow.last_error).order_by(
                    DeliveryRow.created_at
                )
            )
            return [(status, error) for status, error in rows.all()]

    async def drained(self) -> None:
        """Return once the outbox has nothing left to send: no delivery is pending (each one's
        answer is recorded), and a dispatch round of our own claims nothing. What the fake
        provider has received by then is all it will receive: a second copy would have been
        claimed by that round."""
        await eventually(self._nothing_pending)
        dispatcher: Dispatcher = self.app.state.context.dispatcher
        assert await dispatcher.dispatch_due() == 0, "a settled delivery was due again"

    async def _nothing_pending(self) -> bool:
        query = (
            sa.select(sa.func.count())
            .select_from(DeliveryRow)
            .where(DeliveryRow.status == "pending")
        )
        async with self.app.state.runtime.db.session() as session:
            return await session.scalar(query) == 0

    async def device_ids(self, user: str = USER_A) -> list[str]:
        response = await self.client.get("/internal/v1/devices", headers=self.headers(user))
        return [d["device_id"] for d in response.json()["items"]]


@asynccontextmanager
async def running_harness(
    settings: NotificationsSettings, fake_push_url: str
) -> AsyncIterator[Harness]:
    """The service on `settings` (its dispatcher and fan-out running), and a client of the
    fake provider at `fake_push_url`."""
    app = create_app(settings)
    async with (
        running_app(app) as client,
        httpx.AsyncClient(base_url=fake_push_url, http1=False, http2=True) as fake,
    ):
        yield Harness(app, client, fake)
