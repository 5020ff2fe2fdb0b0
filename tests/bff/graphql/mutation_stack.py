"""The BFF in front of the four real services on loopback, and phones calling its GraphQL API."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bff.app import create_app
from services.datasets.app import create_app as create_datasets_app
from services.datasets.settings import DatasetsSettings
from services.inference.app import create_app as create_inference_app
from services.notifications.app import create_app as create_notifications_app
from services.notifications.settings import NotificationsSettings
from services.training.app import create_app as create_training_app
from tests.support.bff_accounts import bearer, bff_settings, sign_up
from tests.support.inference_api import InferenceApi, inference_settings
from tests.support.onnx_models import TrainedModel
from tests.support.servers import serve_app
from tests.support.settings import make_settings
from tests.support.training_setup import DatasetsApi, people_csv, training_settings

MAX_DEVICES = 2


@dataclass
class Phone:
    """A signed-in user calling the BFF's /graphql."""

    client: httpx.AsyncClient
    tokens: dict[str, Any]
    stack: Stack
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def user_id(self) -> str:
        return str(self.tokens["user"]["id"])

    async def post(
        self, query: str, variables: dict[str, Any] | None = None, **headers: str
    ) -> httpx.Response:
        body: dict[str, Any] = {"query": query}
        if variables is not None:
            body["variables"] = variables
        all_headers = {**bearer(self.tokens), **self.headers, **headers}
        return await self.client.post("/graphql", json=body, headers=all_headers)

    async def mutate(self, query: str, **variables: Any) -> dict[str, Any]:
        """The `data` of a mutation that must not fail as a whole."""
        response = await self.post(query, variables)
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        assert "errors" not in answer, answer
        data: dict[str, Any] = answer["data"]
        return data

    async def dataset(self) -> dict[str, Any]:
        """A dataset of this user (uploaded straight to the datasets service)."""
        return await self.stack.datasets.upload_csv(self.user_id, people_csv())

    async def model(self, trained: TrainedModel, name: str = "churn") -> dict[str, Any]:
        """A model of this user at version 1 (registered straight with the inference service)."""
        registered = await self.stack.inference.register(self.user_id, trained, name)
        assert registered.status_code == 201, registered.text
        version: dict[str, Any] = registered.json()
        return version


@dataclass
class Stack:
    client: httpx.AsyncClient
    datasets: DatasetsApi
    inference: InferenceApi

    async def phone(self, email: str = "ada@example.com", device_id: str = "device-1") -> Phone:
        tokens = await sign_up(self.client, email, device_id)
        return Phone(self.client, tokens, self)


@contextlib.asynccontextmanager
async def serving_stack(tmp_path: Path) -> AsyncIterator[Stack]:
    """Datasets, training (its worker off), inference, notifications and the BFF."""
    async with contextlib.AsyncExitStack() as stack:
        datasets_url = await stack.enter_async_context(
            serve_app(
                create_datasets_app(
                    make_settings(DatasetsSettings, tmp_path / "datasets", log_json=False)
                )
            )
        )
        training = training_settings(tmp_path / "training", datasets_url=datasets_url)
        training_url = await stack.enter_async_context(serve_app(create_training_app(training)))
        inference_url = await stack.enter_async_context(
            serve_app(create_inference_app(inference_settings(tmp_path / "inference")))
        )
        notifications = make_settings(
            NotificationsSettings,
            tmp_path / "notifications",
            log_json=False,
            max_devices_per_user=MAX_DEVICES,
        )
        notifications_url = await stack.enter_async_context(
            serve_app(create_notifications_app(notifications))
        )
        bff = create_app(
            bff_settings(
                tmp_path / "bff",
                datasets_url=datasets_url,
                training_url=training_url,
                inference_url=inference_url,
                notifications_url=notifications_url,
                compress_min_bytes=0,
            )
        )
        bff_url = await stack.enter_async_context(serve_app(bff))
        client = await stack.enter_async_context(httpx.AsyncClient(base_url=bff_url, timeout=10))
        inference = await stack.enter_async_context(httpx.AsyncClient(base_url=inference_url))
        yield Stack(client, DatasetsApi(datasets_url), InferenceApi(inference))


def user_errors(payload: dict[str, Any]) -> list[tuple[str, list[str] | None]]:
    """A payload's user errors as (code, field) pairs."""
    return [(error["code"], error["field"]) for error in payload["userErrors"]]
