"""Settings of the notifications service (env prefix TERN_NOTIFICATIONS_)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from services.kit.settings import ServiceSettings

FAKE_PROVIDER_URL = "http://127.0.0.1:8105"


class NotificationsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TERN_NOTIFICATIONS_", extra="ignore")

    service_name: ClassVar[str] = "notifications"
    accepted_callers: ClassVar[frozenset[str]] = frozenset({"bff", "training"})

    port: int = 8104

    # FCM HTTP v1 (Android). Defaults point at the local fake provider.
    fcm_enabled: bool = True
    fcm_base_url: str = FAKE_PROVIDER_URL
    fcm_token_uri: str = f"{FAKE_PROVIDER_URL}/token"
    fcm_project_id: str = "tern-dev"
    fcm_credentials_file: Path | None = None  # service-account JSON
    # APNs HTTP/2 (iOS), token-based auth.
    apns_enabled: bool = True
    apns_base_url: str = FAKE_PROVIDER_URL
    apns_team_id: str = "TERNDEV123"
    apns_key_id: str = "TERNKEY123"
    apns_key_file: Path | None = None  # the .p8 PEM signing key
    apns_topic: str = "dev.tern.app"
    apns_token_refresh_s: int = 50 * 60  # Apple refuses tokens older than an hour

    # Delivery: the outbox dispatcher.
    push_timeout_s: float = 10.0
    # HTTP/2 connections per provider; each carries up to the provider's stream limit.
    provider_connections: int = 2
    dispatch_poll_s: float = 1.0
    dispatch_batch_size: int = 100
    dispatch_concurrency: int = 32
    # Rounds (claim, send, record) that overlap: one is written while the next one sends.
    dispatch_rounds_in_flight: int = 2
    # A claimed delivery stays leased this long past the round's last heartbeat (one every
    # third of it while the round is in flight): a dead process's deliveries are due again
    # within this many seconds.
    dispatch_lease_s: float = Field(default=6.0, gt=0)
    # A round records its answers as they arrive: a group as soon as this many wait, or when
    # the first of them has waited `dispatch_record_delay_s`, or when nothing else is pending.
    # A crash loses the record (and the phone may get a second copy) only of those waiting.
    # The delay bounds that window at any rate; the batch only caps a group when answers come
    # faster than it can fill (each group is a transaction: 128 took ~14% less CPU per push
    # than 32 in tests/bench push_fanout, at the same rate).
    dispatch_record_batch: int = Field(default=128, ge=1)
    dispatch_record_delay_s: float = Field(default=0.02, ge=0)
    max_delivery_attempts: int = 8
    retry_base_s: float = 2.0
    retry_max_s: float = 600.0

    # Run the dispatcher in this process (off: only accept and fan out, another replica sends).
    dispatch_enabled: bool = True

    # Topic fan-out: subscriptions turned into deliveries a page per transaction.
    fanout_page_size: int = 500
    # Renewed with every page committed: a dead process's broadcast resumes this soon.
    fanout_lease_s: float = Field(default=6.0, gt=0)
    fanout_poll_s: float = 1.0

    # Pokes (silent pushes that make a user's devices sync): worthless once stale, the phone
    # syncs on its next launch anyway.
    poke_ttl_s: int = Field(default=300, ge=1, le=3600)

    # Limits.
    max_payload_bytes: int = 4096
    max_devices_per_user: int = 20
    max_topics_per_device: int = 100

    @model_validator(mode="after")
    def _credentials_outside_development(self) -> NotificationsSettings:
        # Development and test generate their own keys into service_dir; nothing else may.
        if self.environment in ("development", "test"):
            return self
        prefix = "TERN_NOTIFICATIONS_"
        if self.fcm_enabled and self.fcm_credentials_file is None:
            raise ValueError(
                f"{prefix}FCM_CREDENTIALS_FILE must name a service-account JSON file "
                f"(or set {prefix}FCM_ENABLED=false)"
            )
        if self.apns_enabled and self.apns_key_file is None:
            raise ValueError(
                f"{prefix}APNS_KEY_FILE must name the APNs .p8 signing key "
                f"(or set {prefix}APNS_ENABLED=false)"
            )
        return self
