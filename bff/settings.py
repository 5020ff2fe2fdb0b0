"""Settings of the BFF (env prefix TERN_BFF_)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from services.kit.settings import DEV_PLACEHOLDER, ServiceSettings

_MIB = 1024 * 1024
# HS256 keys shorter than the hash output weaken it (RFC 7518 3.2).
_MIN_JWT_SECRET_BYTES = 32


class BffSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TERN_BFF_", extra="ignore")

    service_name: ClassVar[str] = "bff"
    secret_fields: ClassVar[tuple[str, ...]] = ("service_token_secret", "jwt_secret")

    port: int = 8000
    # Phones send small JSON bodies; only upload chunks are larger (see upload_chunk_max_bytes).
    max_request_body_bytes: int = 1 * _MIB

    datasets_url: str = "http://127.0.0.1:8101"
    training_url: str = "http://127.0.0.1:8102"
    inference_url: str = "http://127.0.0.1:8103"
    notifications_url: str = "http://127.0.0.1:8104"

    # User auth.
    jwt_secret: SecretStr = SecretStr(DEV_PLACEHOLDER)
    access_token_ttl_s: int = 900
    refresh_token_ttl_s: int = 30 * 24 * 3600
    password_min_length: int = 8
    password_max_length: int = 256
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 64 * 1024
    argon2_parallelism: int = 2

    # Uploads: the largest chunk the BFF streams through to the datasets service.
    upload_chunk_max_bytes: int = 8 * _MIB
    upload_chunk_margin_bytes: int = 64 * 1024

    # GraphQL document limits.
    graphql_max_depth: int = 10
    graphql_max_aliases: int = 15
    graphql_max_tokens: int = 2000

    # Distinct app versions kept as metric labels before the rest count as "other".
    max_app_version_labels: int = 50

    @model_validator(mode="after")
    def _refuse_short_jwt_secret(self) -> BffSettings:
        if self.environment == "development":
            return self
        if len(self.jwt_secret.get_secret_value().encode()) < _MIN_JWT_SECRET_BYTES:
            raise ValueError(
                f"TERN_BFF_JWT_SECRET must be at least {_MIN_JWT_SECRET_BYTES} bytes "
                f"when environment is {self.environment!r}"
            )
        return self

    def downstream_urls(self) -> dict[str, str]:
        """Base URL of each service the BFF calls, by service name."""
        return {
            "datasets": self.datasets_url,
            "training": self.training_url,
            "inference": self.inference_url,
            "notifications": self.notifications_url,
        }
