"""A device of the viewer that receives pushes."""

from __future__ import annotations

from datetime import datetime

import strawberry

from proto.notifications import Device as DeviceContract


@strawberry.type
class Device:
    device_id: strawberry.ID
    platform: str
    app_version: str | None
    locale: str | None
    timezone: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_model(cls, device: DeviceContract) -> Device:
        """From a `Device` as the notifications service answers it."""
        return cls(
            device_id=strawberry.ID(device.device_id),
            platform=device.platform,
            app_version=device.app_version,
            locale=device.locale,
            timezone=device.timezone,
            created_at=device.created_at,
            updated_at=device.updated_at,
        )
