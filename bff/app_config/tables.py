"""What operators set: per-platform versions, maintenance mode, feature flags."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from bff.database import Base


class PlatformRelease(Base):
    """The versions of the app on one platform (ios, android)."""

    __tablename__ = "platform_releases"

    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    min_version: Mapped[str | None] = mapped_column(String(32))
    latest_version: Mapped[str | None] = mapped_column(String(32))
    update_url: Mapped[str | None] = mapped_column(String(512))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Maintenance(Base):
    """One row (id 1): whether the app should show a maintenance screen."""

    __tablename__ = "maintenance"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean)
    message: Mapped[str | None] = mapped_column(String(500))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class FeatureFlag(Base):
    """A flag on for a stable share of devices, optionally only some platforms or versions."""

    __tablename__ = "feature_flags"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean)
    rollout_percent: Mapped[int] = mapped_column(Integer)
    # None: every platform; else the list of platforms that may see it.
    platforms: Mapped[list[str] | None] = mapped_column(JSON)
    min_app_version: Mapped[str | None] = mapped_column(String(32))
    max_app_version: Mapped[str | None] = mapped_column(String(32))
    description: Mapped[str | None] = mapped_column(String(500))
    extra: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
