"""The inference service, as the training service uses it: registering trained models."""

from __future__ import annotations

from proto.common import INTERNAL_PREFIX
from proto.inference import ModelVersion, ModelVersionRegister
from services.kit.http_client import FilePart, ServiceClient


class InferenceClient:
    def __init__(self, client: ServiceClient) -> None:
        self._client = client

    async def register_version(
        self, owner_id: str, metadata: ModelVersionRegister, artifact: bytes
    ) -> ModelVersion:
        """Upload a trained artifact as a new version of the owner's model named `metadata.name`."""
        files: dict[str, FilePart] = {
            "metadata": (None, metadata.model_dump_json(), "application/json"),
            "artifact": ("model.onnx", artifact, "application/octet-stream"),
        }
        response = await self._client.request(
            "POST",
            f"{INTERNAL_PREFIX}/models/versions",
            user_id=owner_id,
            files=files,
            timeout_s=60.0,
        )
        return ModelVersion.model_validate_json(response.content)
