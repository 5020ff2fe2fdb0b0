"""The notifications service, as the training service uses it: telling owners about their jobs."""

from __future__ import annotations

from proto.common import INTERNAL_PREFIX
from proto.notifications import SendResult, SendToUser
from services.kit.http_client import ServiceClient


class NotificationsClient:
    def __init__(self, client: ServiceClient) -> None:
        self._client = client

    async def send(self, owner_id: str, message: SendToUser) -> SendResult:
        """Push to the owner's devices; the idempotency key makes a retry send nothing twice."""
        response = await self._client.request(
            "POST", f"{INTERNAL_PREFIX}/send", user_id=owner_id, json=message, idempotent=True
        )
        return SendResult.model_validate_json(response.content)
