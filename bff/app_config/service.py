"""Reads the app config (cached a few seconds per replica) and evaluates it for one device."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from sqlalchemy import select

from bff.app_config.rollout import in_rollout
from bff.app_config.schemas import AppConfig, MaintenanceOut
from bff.app_config.tables import FeatureFlag, Maintenance, PlatformRelease
from bff.app_config.versions import is_below, parse_version
from services.kit.change_versions import VersionBus, VersionEvent
from services.kit.clock import utc_now
from services.kit.database import Database

_MAINTENANCE_ROW = 1
# The bus event of a config change: what changed is read again from the database.
_CHANGED: list[VersionEvent] = [("app-config", 0, None)]


@dataclass(frozen=True, slots=True)
class Release:
    min_version: str | None
    latest_version: str | None
    update_url: str | None


@dataclass(frozen=True, slots=True)
class Flag:
    key: str
    enabled: bool
    rollout_percent: int
    platforms: tuple[str, ...] | None = None
    min_app_version: str | None = None
    max_app_version: str | None = None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The whole config as read at one moment."""

    releases: dict[str, Release] = field(default_factory=dict)
    maintenance: bool = False
    maintenance_message: str | None = None
    flags: tuple[Flag, ...] = ()


@dataclass(frozen=True, slots=True)
class Client:
    """Who asks: from the mobile headers."""

    platform: str | None
    app_version: str | None
    device_id: str | None


def flag_on(flag: Flag, client: Client) -> bool:
    """Whether a flag is on for this device: enabled, targeted, and within the rollout."""
    if not flag.enabled:
        return False
    if flag.platforms is not None and client.platform not in flag.platforms:
        return False
    version = parse_version(client.app_version)
    if flag.min_app_version is not None or flag.max_app_version is not None:
        if version is None:
            return False
        if flag.min_app_version is not None and is_below(client.app_version, flag.min_app_version):
            return False
        if flag.max_app_version is not None and is_below(flag.max_app_version, client.app_version):
            return False
    return in_rollout(flag.key, client.device_id, flag.rollout_percent)


def evaluate(snapshot: Snapshot, client: Client) -> AppConfig:
    """The app config as one device sees it."""
    release = snapshot.releases.get(client.platform or "")
    minimum = release.min_version if release else None
    latest = release.latest_version if release else None
    return AppConfig(
        platform=client.platform,
        min_version=minimum,
        latest_version=latest,
        force_update=is_below(client.app_version, minimum),
        update_available=is_below(client.app_version, latest),
        update_url=release.update_url if release else None,
        maintenance=MaintenanceOut(
            enabled=snapshot.maintenance, message=snapshot.maintenance_message
        ),
        flags={flag.key: flag_on(flag, client) for flag in snapshot.flags},
    )


class AppConfigService:
    """The config in the BFF's database; each replica re-reads it every `ttl_s` seconds, and
    at once after a change made through it or (with `bus`) through any replica."""

    def __init__(self, db: Database, ttl_s: float, bus: VersionBus | None = None) -> None:
        self._db = db
        self._ttl_s = ttl_s
        self.bus = bus
        self._cached: Snapshot | None = None
        self._read_at = 0.0

    async def snapshot(self) -> Snapshot:
        """The current config, at most `ttl_s` old."""
        now = time.monotonic()
        if self._cached is None or now - self._read_at >= self._ttl_s:
            self._cached = await self._read()
            self._read_at = now
        return self._cached

    async def current(self) -> Snapshot:
        """The config as the database has it now (kept as this replica's copy)."""
        self._cached, self._read_at = await self._read(), time.monotonic()
        return self._cached

    def invalidate(self) -> None:
        """Read the database again on next use (after this replica changed it)."""
        self._cached = None

    async def _changed(self) -> None:
        """After a write: this replica reads it on next use; the others hear of it."""
        self.invalidate()
        if self.bus is not None:
            sending = self.bus.publish(_CHANGED)
            if sending is not None:
                await sending

    async def set_release(
        self,
        platform: str,
        *,
        min_version: str | None,
        latest_version: str | None,
        update_url: str | None,
    ) -> None:
        """Set the versions of one platform."""
        async with self._db.transaction() as db:
            row = await db.get(PlatformRelease, platform) or PlatformRelease(platform=platform)
            row.min_version, row.latest_version = min_version, latest_version
            row.update_url, row.updated_at = update_url, utc_now()
            db.add(row)
        await self._changed()

    async def set_maintenance(self, enabled: bool, message: str | None = None) -> None:
        """Turn maintenance mode on or off."""
        async with self._db.transaction() as db:
            row = await db.get(Maintenance, _MAINTENANCE_ROW) or Maintenance(id=_MAINTENANCE_ROW)
            row.enabled, row.message, row.updated_at = enabled, message, utc_now()
            db.add(row)
        await self._changed()

    async def set_flag(self, flag: Flag, description: str | None = None) -> None:
        """Create or change a feature flag."""
        if not 0 <= flag.rollout_percent <= 100:
            raise ValueError("rollout_percent must be within 0..100")
        async with self._db.transaction() as db:
            row = await db.get(FeatureFlag, flag.key) or FeatureFlag(key=flag.key)
            row.enabled, row.rollout_percent = flag.enabled, flag.rollout_percent
            row.platforms = list(flag.platforms) if flag.platforms is not None else None
            row.min_app_version, row.max_app_version = flag.min_app_version, flag.max_app_version
            row.description, row.updated_at = description, utc_now()
            db.add(row)
        await self._changed()

    async def delete_flag(self, key: str) -> bool:
        """Remove a feature flag; whether it existed."""
        async with self._db.transaction() as db:
            row = await db.get(FeatureFlag, key)
            if row is not None:
                await db.delete(row)
        await self._changed()
        return row is not None

    async def _read(self) -> Snapshot:
        async with self._db.session() as db:
            releases = (await db.scalars(select(PlatformRelease))).all()
            maintenance = await db.get(Maintenance, _MAINTENANCE_ROW)
            flags = (await db.scalars(select(FeatureFlag).order_by(FeatureFlag.key))).all()
        return Snapshot(
            releases={
                row.platform: Release(row.min_version, row.latest_version, row.update_url)
                for row in releases
            },
            maintenance=bool(maintenance and maintenance.enabled),
            maintenance_message=maintenance.message if maintenance else None,
            flags=tuple(
                Flag(
                    row.key,
                    row.enabled,
                    row.rollout_percent,
                    tuple(row.platforms) if row.platforms is not None else None,
                    row.min_app_version,
                    row.max_app_version,
                )
                for row in flags
            ),
        )
