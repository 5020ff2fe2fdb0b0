"""Push tokens of the user's devices."""

from __future__ import annotations

from fastapi import Response

from bff.dependencies import Clients, CurrentUser
from bff.mobile_headers import valid_device_id
from proto.notifications import Device, DeviceRegister
from services.kit.routing import PrefixedRouter

router = PrefixedRouter(prefix="/devices", tags=["devices"])


@router.put("/{device_id}/push-token", response_model=Device)
async def register_push_token(
    device_id: str, body: DeviceRegister, user: CurrentUser, clients: Clients
) -> Device:
    """Register or update the push token of one of the user's devices."""
    return await clients.notifications.register_device(user.id, valid_device_id(device_id), body)


@router.delete("/{device_id}/push-token", status_code=204, response_class=Response)
async def unregister_push_token(device_id: str, user: CurrentUser, clients: Clients) -> Response:
    """Stop pushing to a device."""
    await clients.notifications.unregister_device(user.id, valid_device_id(device_id))
    return Response(status_code=204)
