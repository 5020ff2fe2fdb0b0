"""Settings base shared by every deployable; each subclasses it with its own env prefix."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.kit.service_keys import (
    KeyFormatError,
    SigningKey,
    TrustedKeys,
    derive_signing_key,
)

Environment = Literal["development", "test", "production"]
# The ASGI server a process runs on (services/kit/server.py); Granian unless set otherwise.
ServerName = Literal["granian", "hypercorn"]

# Values that mean "nobody set this": accepted in development only.
PLACEHOLDER_SECRETS = frozenset({"", "change-me", "changeme", "secret", "dev-secret"})
# HS256 keys shorter than the hash output weaken it (RFC 7518 3.2): the BFF's access tokens
# are signed with one, and the development seed of service keys is held to the same length.
MIN_SECRET_BYTES = 32
DEV_PLACEHOLDER = "change-me"


class ServiceSettings(BaseSettings):
    """Settings every process has. Subclasses set `service_name` and their env prefix."""

    model_config = SettingsConfigDict(env_prefix="TERN_", extra="ignore")

    service_name: ClassVar[str] = "service"
    # The services whose tokens this one accepts on its internal API (least privilege: a
    # token minted by any other service is refused with 403 even when its signature holds).
    accepted_callers: ClassVar[frozenset[str]] = frozenset()
    # The services this one calls: it needs a signing key of its own only if it calls any.
    calls: ClassVar[frozenset[str]] = frozenset()
    secret_fields: ClassVar[tuple[str, ...]] = ("service_token_secret",)

    environment: Environment = "development"
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("var")
    database_url: str | None = None
    redis_url: str | None = None
    # Service tokens (services/kit/service_keys.py): this service's own Ed25519 private key,
    # and the public keys of the services it takes calls from, `bff=<base64url>,...` (two per
    # service while one rotates). Required in production; elsewhere, what is left out is
    # derived from `service_token_secret`, the development seed (never used in production).
    service_signing_key: SecretStr | None = None
    service_trusted_keys: str = ""
    service_token_secret: SecretStr = SecretStr(DEV_PLACEHOLDER)
    service_token_ttl_s: int = 60
    metrics_token: SecretStr | None = None
    log_level: str = "INFO"
    log_json: bool = True
    tls_certfile: Path | None = None
    tls_keyfile: Path | None = None
    server: ServerName = "granian"
    # Outbound calls to other services.
    http_connect_timeout_s: float = 2.0
    http_timeout_s: float = 10.0
    http_retries: int = 2
    breaker_failure_threshold: int = 5
    # The longest an open breaker waits between trial calls: its first opening lasts a second
    # and each failed trial doubles that, up to this.
    breaker_reset_timeout_s: float = 5.0
    # Upper bound on any request body this process accepts (bytes).
    max_request_body_bytes: int = 16 * 1024 * 1024
    # The change feed keeps every live entity; tombstones go after this many days, or past
    # this many per owner (a device that was away longer resnapshots).
    feed_tombstone_max_age_days: int = Field(default=30, ge=1)
    feed_tombstones_per_owner: int = Field(default=5000, ge=1)
    feed_prune_interval_s: float = Field(default=600.0, gt=0)

    # Traces (services/kit/tracing.py): with an OTLP/HTTP receiver's base URL (a collector's
    # http://otel-collector:4318) spans are posted to its /v1/traces; unset, nothing is traced
    # and tracing costs nothing. Of the traces that start here (no caller's traceparent) this
    # share is kept; a caller's sampling decision holds for the rest of its trace.
    otlp_endpoint: str | None = None
    trace_sample_ratio: float = Field(default=1.0, ge=0.0, le=1.0)

    @field_validator("otlp_endpoint")
    @classmethod
    def _an_http_url(cls, value: str | None) -> str | None:
        value = (value or "").strip() or None
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("the OTLP endpoint is an http:// or https:// URL")
        return value

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> ServiceSettings:
        prefix = self.model_config.get("env_prefix", "")
        # In development too: a certificate without its key would silently serve cleartext.
        if (self.tls_certfile is None) != (self.tls_keyfile is None):
            raise ValueError(f"{prefix}TLS_CERTFILE and {prefix}TLS_KEYFILE go together")
        if self.environment != "development":
            self._refuse_placeholders(prefix)
        self._check_service_keys(prefix)
        return self

    def _refuse_placeholders(self, prefix: str) -> None:
        # In production /metrics (every route's traffic) answers only with its own token.
        production = ("metrics_token",) if self.environment == "production" else ()
        seeded = self._derives_service_keys()
        for field in (*self.secret_fields, *production):
            if field == "service_token_secret" and not seeded:
                continue  # only ever a seed of development keys
            value = getattr(self, field)
            raw = value.get_secret_value() if isinstance(value, SecretStr) else str(value or "")
            if raw.strip().lower() in PLACEHOLDER_SECRETS or len(raw.encode()) < MIN_SECRET_BYTES:
                env_name = f"{prefix}{field}".upper()
                raise ValueError(
                    f"{env_name} must be set to a real secret ({MIN_SECRET_BYTES}+ bytes) "
                    f"when environment is {self.environment!r}"
                )

    def _configured_signing_key(self) -> str:
        key = self.service_signing_key
        return key.get_secret_value().strip() if key is not None else ""

    def _has_signing_key(self) -> bool:
        return bool(self._configured_signing_key())

    def _has_trusted_keys(self) -> bool:
        return bool(self.service_trusted_keys.strip())

    def _derives_service_keys(self) -> bool:
        return self.environment != "production" and not (
            self._has_signing_key() and self._has_trusted_keys()
        )

    def _check_service_keys(self, prefix: str) -> None:
        """Configured keys parse; production has each key it needs, and derives none."""
        signing_var, trusted_var = f"{prefix}SERVICE_SIGNING_KEY", f"{prefix}SERVICE_TRUSTED_KEYS"
        if self._has_signing_key():
            try:
                SigningKey.parse(self._configured_signing_key())
            except KeyFormatError as exc:
                raise ValueError(f"{signing_var}: {exc}") from None
        elif self.environment == "production" and self.calls:
            raise ValueError(
                f"{signing_var} must be set in production: {self.service_name} calls "
                f"{', '.join(sorted(self.calls))} with tokens signed by its own key "
                f"(python -m services.kit.service_keys generate {self.service_name})"
            )
        if self._has_trusted_keys():
            try:
                owners = TrustedKeys.parse(self.service_trusted_keys).owners()
            except KeyFormatError as exc:
                raise ValueError(f"{trusted_var}: {exc}") from None
            missing = self.accepted_callers - owners
            if missing:
                raise ValueError(
                    f"{trusted_var} has no key of {', '.join(sorted(missing))}, which may call "
                    f"{self.service_name}"
                )
        elif self.environment == "production" and self.accepted_callers:
            raise ValueError(
                f"{trusted_var} must be set in production: the public keys of "
                f"{', '.join(sorted(self.accepted_callers))}, which call {self.service_name}"
            )

    def signing_key(self) -> SigningKey | None:
        """This service's own key: the configured one, else (outside production) derived from
        the development seed; None in production when it has none (then it calls nobody)."""
        if self._has_signing_key():
            return SigningKey.parse(self._configured_signing_key())
        if self.environment == "production":
            return None
        return derive_signing_key(self.service_token_secret.get_secret_value(), self.service_name)

    def trusted_keys(self) -> TrustedKeys:
        """The public keys whose tokens this service checks (who may call is `accepted_callers`):
        the configured ones, else (outside production) every service's derived key."""
        if self._has_trusted_keys():
            return TrustedKeys.parse(self.service_trusted_keys)
        if self.environment == "production":
            return TrustedKeys(())
        return TrustedKeys.derived(self.service_token_secret.get_secret_value())

    @property
    def sqlalchemy_url(self) -> str:
        """The async SQLAlchemy URL: the configured database, or a SQLite file in the data dir."""
        if self.database_url:
            return normalize_database_url(self.database_url)
        return f"sqlite+aiosqlite:///{self.data_dir.resolve() / (self.service_name + '.db')}"

    @property
    def service_dir(self) -> Path:
        """This service's own folder for files (uploads, artifacts, keys)."""
        return self.data_dir.resolve() / self.service_name


def normalize_database_url(url: str) -> str:
    """Map the URLs operators write (postgres://, postgresql://, sqlite://) to async drivers."""
    for plain, driver in (
        ("postgres://", "postgresql+asyncpg://"),
        ("postgresql://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    return url
