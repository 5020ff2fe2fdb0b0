"""The inference service under test, called in-process as the BFF and training call it."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from services.inference.settings import InferenceSettings
from tests.support.apps import service_headers
from tests.support.onnx_models import TrainedModel
from tests.support.settings import make_settings

ALICE = "user-alice"
BOB = "user-bob"


@dataclass
class InferenceApi:
    """The inference service's internal API, called as the BFF would for one user or another."""

    client: httpx.AsyncClient

    async def register(
        self,
        user: str,
        model: TrainedModel,
        name: str,
        artifact: bytes | None = None,
        **metadata: Any,
    ) -> httpx.Response:
        body = model.register_metadata(name, **metadata)
        return await self.client.post(
            "/internal/v1/models/versions",
            headers=service_headers("inference", user),
            # The shape the training service's client sends: metadata as a JSON part.
            files={
                "metadata": (None, json.dumps(body), "application/json"),
                "artifact": ("model.onnx", artifact or model.onnx_bytes, "application/octet"),
            },
        )

    async def predict(
        self, user: str, model_id: str | uuid.UUID, rows: list[dict[str, Any]], **options: Any
    ) -> httpx.Response:
        return await self.client.post(
            f"/internal/v1/models/{model_id}/predict",
            headers=service_headers("inference", user),
            json={"rows": rows, **options},
        )

    async def set_alias(
        self, user: str, model_id: str | uuid.UUID, alias: str, version: int
    ) -> httpx.Response:
        return await self.client.put(
            f"/internal/v1/models/{model_id}/aliases/{alias}",
            headers=service_headers("inference", user),
            json={"version": version},
        )

    async def delete_alias(
        self, user: str, model_id: str | uuid.UUID, alias: str
    ) -> httpx.Response:
        return await self.client.delete(
            f"/internal/v1/models/{model_id}/aliases/{alias}",
            headers=service_headers("inference", user),
        )

    async def get(self, user: str, path: str, **params: Any) -> httpx.Response:
        return await self.client.get(
            f"/internal/v1{path}", headers=service_headers("inference", user), params=params
        )


def inference_settings(tmp_path: Path, **overrides: Any) -> InferenceSettings:
    """Test settings of the inference service in its own data dir."""
    return make_settings(InferenceSettings, tmp_path, log_json=False, **overrides)
