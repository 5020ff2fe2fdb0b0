"""Bodies and answers of the admin API (/admin/v1)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from proto.notifications import BroadcastResult, PushKind

Platform = Literal["ios", "android"]
AppVersion = Field(default=None, min_length=1, max_length=32)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReleaseIn(_Body):
    """PUT /admin/v1/releases/{platform}: apps below `min_version` get 426 with `update_url`."""

    min_version: str | None = AppVersion
    latest_version: str | None = AppVersion
    update_url: str | None = Field(default=None, max_length=512)


class ReleaseOut(BaseModel):
    platform: str
    min_version: str | None
    latest_version: str | None
    update_url: str | None


class FlagPatch(_Body):
    """PATCH /admin/v1/flags/{key}: create or change a flag; fields left out keep their value
    (a new flag starts enabled, for 0% of devices, on every platform and version); null clears
    a targeting field."""

    enabled: bool | None = None
    rollout_percent: int | None = Field(default=None, ge=0, le=100)
    platforms: list[Platform] | None = Field(default=None, max_length=2)
    min_app_version: str | None = AppVersion
    max_app_version: str | None = AppVersion
    description: str | None = Field(default=None, max_length=500)


class FlagOut(BaseModel):
    key: str
    enabled: bool
    rollout_percent: int
    platforms: list[str] | None
    min_app_version: str | None
    max_app_version: str | None


class MaintenanceIn(_Body):
    """PUT /admin/v1/maintenance: while on, every API call answers 503 MAINTENANCE with
    `message` as its user message (the admin API and /api/v1/app-config stay open)."""

    enabled: bool
    message: str | None = Field(default=None, max_length=500)


class MaintenanceState(BaseModel):
    enabled: bool
    message: str | None


class ConfigOut(BaseModel):
    """The whole app config as the database has it now."""

    releases: list[ReleaseOut]
    maintenance: MaintenanceState
    flags: list[FlagOut]


class BroadcastIn(_Body):
    """POST /admin/v1/topics/{topic}/broadcasts: push to every device following the topic.

    `dry_run`: count the devices it would reach, send nothing. Retrying with the same
    `idempotency_key` sends nothing twice (the CLI makes one per command)."""

    title: str | None = Field(default=None, max_length=200)
    body: str | None = Field(default=None, max_length=1000)
    data: dict[str, str] = Field(default_factory=dict, max_length=50)
    category: str = Field(default="general", min_length=1, max_length=64)
    kind: PushKind = "display"
    collapse_key: str | None = Field(default=None, max_length=64)
    ttl_s: int = Field(default=86_400, ge=0, le=2_419_200)
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200)
    dry_run: bool = False


class BroadcastOut(BaseModel):
    topic: str
    dry_run: bool
    # Devices following the topic now (the dry run's answer; a real one reaches these).
    devices: int
    devices_at_least: bool
    broadcast: BroadcastResult | None = None


class UserAccount(BaseModel):
    id: uuid.UUID
    email: str
    created_at: datetime


class UserSessionOut(BaseModel):
    id: uuid.UUID
    device_id: str | None
    created_at: datetime
    last_used_at: datetime


class Revoked(BaseModel):
    """What a revoke ended."""

    sessions_ended: int
    device_forgotten: bool = False


class TokenCreate(_Body):
    """POST /admin/v1/tokens: a new admin token (its secret is answered this once)."""

    name: str = Field(min_length=1, max_length=100)
    scopes: list[str] = Field(min_length=1, max_length=20)
    ttl_s: int = Field(default=30 * 86_400, ge=60, le=365 * 86_400)


class TokenOut(BaseModel):
    id: uuid.UUID
    name: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    created_by: uuid.UUID | None


class TokenMinted(TokenOut):
    token: str = Field(description="shown once: keep it now")


class AuditOut(BaseModel):
    id: uuid.UUID
    at: datetime
    token_id: uuid.UUID | None
    token_name: str | None
    action: str
    target: str
    outcome: str
    details: dict[str, Any] | None
    request_id: str | None


class SafelistIn(_Body):
    """PUT /admin/v1/graphql/safelists/{platform}/{app_version}: the whole safelist of one app
    build, each document exactly as the app sends it (its SHA-256 is the hash APQ names it
    by). Replaces the version's safelist; each document must validate against the schema."""

    documents: list[str] = Field(min_length=1)


class SafelistOut(BaseModel):
    platform: str
    app_version: str
    digest: str = Field(description="SHA-256 of the sorted document hashes")
    document_count: int
    uploaded_at: datetime
    uploaded_by: str | None


class SafelistUploaded(SafelistOut):
    """What an upload changed against the safelist it replaced."""

    added: int
    removed: int
    previous_digest: str | None


class SafelistDocumentOut(BaseModel):
    sha256: str
    operations: list[str]


class SafelistDetail(SafelistOut):
    """A version's safelist and its documents, by hash."""

    documents: list[SafelistDocumentOut]
