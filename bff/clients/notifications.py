"""Client of the notifications service: devices and the inbox, acting for one user."""

from __future__ import annotations

from bff.clients.paging import page_params
from proto.common import Page
from proto.notifications import Device, DeviceRegister, Notification
from services.kit.http_client import ServiceClient

_PREFIX = "/internal/v1"


class NotificationsClient:
    """Typed calls to the notifications service."""

    def __init__(self, http: ServiceClient) -> None:
        self._http = http

    async def register_device(self, user_id: str, device_id: str, device: DeviceRegister) -> Device:
        """Register or update the push token of one of the user's devices."""
        response = await self._http.request(
            "PUT", f"{_PREFIX}/devices/{device_id}", user_id=user_id, json=device
        )
        return Device.model_validate_json(response.content)

    async def unregister_device(self, user_id: str, device_id: str) -> None:
        """Stop pushing to a device."""
        await self._http.request("DELETE", f"{_PREFIX}/devices/{device_id}", user_id=user_id)

    async def list_devices(
        self, user_id: str, cursor: str | None = None, limit: int | None = None
    ) -> Page[Device]:
        """One page of the user's devices."""
        data = await self._http.get_json(
            f"{_PREFIX}/devices", user_id=user_id, params=page_params(cursor, limit)
        )
        return Page[Device].model_validate(data)

    async def list_notifications(
        self, user_id: str, cursor: str | None = None, limit: int | None = None
    ) -> Page[Notification]:
        """One page of the user's inbox, newest first."""
        data = await self._http.get_json(
            f"{_PREFIX}/notifications", user_id=user_id, params=page_params(cursor, limit)
        )
        return Page[Notification].model_validate(data)
