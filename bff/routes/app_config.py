"""What the app reads at launch: versions, maintenance mode, feature flags for this device."""

from __future__ import annotations

from bff.app_config.schemas import AppConfig
from bff.app_config.service import Client, evaluate
from bff.dependencies import BffDep, Mobile
from services.kit.routing import PrefixedRouter

router = PrefixedRouter(prefix="/app-config", tags=["app-config"])


@router.get("", response_model=AppConfig)
async def app_config(mobile: Mobile, bff: BffDep) -> AppConfig:
    """The config as this device sees it (X-Platform, X-App-Version, X-Device-ID)."""
    client = Client(mobile.platform, mobile.app_version, mobile.device_id)
    return evaluate(await bff.app_config.snapshot(), client)
