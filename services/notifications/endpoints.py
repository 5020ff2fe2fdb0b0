"""Internal REST routes of the notifications service (/internal/v1); thin over service.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.responses import Response

from proto.common import Page
from proto.notifications import Device, DeviceRegister, Notification, SendResult, SendToUser
from services.kit.dependencies import INTERNAL_DEPENDENCIES, ActingUser, DbSession, Runtime
from services.notifications import service
from services.notifications.dispatcher import Dispatcher
from services.notifications.settings import NotificationsSettings

router = APIRouter(prefix="/internal/v1", dependencies=INTERNAL_DEPENDENCIES)

DeviceId = Annotated[str, Path(min_length=1, max_length=200)]
Cursor = Annotated[str | None, Query(max_length=512)]
Limit = Annotated[int | None, Query(ge=1, le=200)]


def _settings(runtime: Runtime) -> NotificationsSettings:
    settings = runtime.settings
    assert isinstance(settings, NotificationsSettings)
    return settings


def _dispatcher(request: Request) -> Dispatcher | None:
    dispatcher: Dispatcher | None = getattr(request.app.state, "dispatcher", None)
    return dispatcher


Settings = Annotated[NotificationsSettings, Depends(_settings)]
OptionalDispatcher = Annotated[Dispatcher | None, Depends(_dispatcher)]


@router.put("/devices/{device_id}", response_model=Device)
async def register_device(
    device_id: DeviceId,
    register: DeviceRegister,
    user: ActingUser,
    runtime: Runtime,
    settings: Settings,
) -> Device:
    """Register or update the push token of one of the acting user's devices."""
    return await service.register_device(
        runtime.db, user, device_id, register, settings.max_devices_per_user
    )


@router.delete("/devices/{device_id}", status_code=204)
async def unregister_device(device_id: DeviceId, user: ActingUser, session: DbSession) -> Response:
    """Forget a device: nothing more is pushed to it."""
    await service.unregister_device(session, user, device_id)
    return Response(status_code=204)


@router.get("/devices", response_model=Page[Device])
async def list_devices(
    user: ActingUser, session: DbSession, cursor: Cursor = None, limit: Limit = None
) -> Page[Device]:
    """The acting user's devices, newest first."""
    return await service.list_devices(session, user, cursor, limit)


@router.post("/send", response_model=SendResult, status_code=202)
async def send(
    request: SendToUser,
    user: ActingUser,
    runtime: Runtime,
    settings: Settings,
    dispatcher: OptionalDispatcher,
) -> SendResult:
    """Push to every device of the acting user and keep it in their inbox (idempotent)."""
    result = await service.send_to_user(runtime.db, user, request, settings)
    if dispatcher is not None and not result.duplicate:
        dispatcher.wake()
    return result


@router.get("/notifications", response_model=Page[Notification])
async def list_notifications(
    user: ActingUser, session: DbSession, cursor: Cursor = None, limit: Limit = None
) -> Page[Notification]:
    """The acting user's inbox, newest first."""
    return await service.list_notifications(session, user, cursor, limit)
