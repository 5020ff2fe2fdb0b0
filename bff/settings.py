"""Settings of the BFF (env prefix TERN_BFF_)."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from bff.batch import MAX_ITEMS
from bff.signing.policy import KNOWN_PLATFORMS
from services.kit.settings import DEV_PLACEHOLDER, MIN_SECRET_BYTES, ServiceSettings

_MIB = 1024 * 1024
DEVELOPMENT_ATTESTATION = "development"


class BffSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TERN_BFF_", extra="ignore")

    service_name: ClassVar[str] = "bff"
    calls: ClassVar[frozenset[str]] = frozenset(
        {"datasets", "training", "inference", "notifications"}
    )
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

    # Request signing (bff/signing/): the platforms (X-Platform at sign-in) whose sessions must
    # sign every request with their per-install key, e.g. "ios,android"; elsewhere a
    # signature sent is still checked. A session of a missing or unknown platform counts as
    # listed whenever any platform is. Timestamps further than the window from the BFF's
    # clock are refused, and a nonce is remembered (in the kit cache) as long as it could pass.
    signed_requests: Annotated[frozenset[str], NoDecode] = frozenset()
    signature_window_s: int = Field(default=300, ge=10, le=3600)
    # Seals the per-install keys in the sessions table (AES-GCM); derived from jwt_secret
    # when unset. Changing it makes every stored key unreadable: those apps sign in again.
    signing_keys_secret: SecretStr | None = None
    # Device attestation at sign-in: the platforms that must attest (same form and rule as
    # signed_requests), how long a challenge lasts, and the verifier: "development" (a
    # stand-in, refused in production while any platform must attest) or "module:factory",
    # a callable taking these settings and returning a DeviceAttestation.
    attestation_required: Annotated[frozenset[str], NoDecode] = frozenset()
    attestation_verifier: str = DEVELOPMENT_ATTESTATION
    attestation_challenge_ttl_s: float = Field(default=300.0, gt=0, le=3600)

    # Uploads: the largest chunk the BFF streams through to the datasets service.
    upload_chunk_max_bytes: int = 8 * _MIB
    upload_chunk_margin_bytes: int = 64 * 1024
    # Largest ONNX model a user uploads through the BFF (the multipart body may add the margin).
    model_upload_max_bytes: int = 32 * _MIB

    # GraphQL document limits.
    graphql_max_depth: int = 10
    graphql_max_aliases: int = 15
    graphql_max_tokens: int = 2000
    # What one operation may cost: each downstream call a resolver makes counts (a prediction
    # more), priced before it runs; the cost is reported in `extensions.cost`.
    graphql_max_cost: int = Field(default=200, ge=1)
    # Subscriptions: at most this many at once on one connection, and for one user (across
    # replicas when Redis is configured: leased slots, freed when a dead replica's leases lapse).
    graphql_subscriptions_per_connection: int = Field(default=10, ge=1)
    graphql_subscriptions_per_user: int = Field(default=30, ge=1)
    # Persisted queries (APQ): how long a registered document is kept, and the largest kept.
    graphql_persisted_query_ttl_s: float = Field(default=7 * 24 * 3600.0, gt=0)
    graphql_persisted_query_max_bytes: int = Field(default=20_000, ge=1)
    # Safelists (an app build's documents, uploaded by an operator): at most this many
    # documents per platform and app version, each at most this large.
    graphql_safelist_max_documents: int = Field(default=1000, ge=1)
    graphql_safelist_max_document_bytes: int = Field(default=32_768, ge=1)

    # Distinct app versions kept as metric labels before the rest count as "other".
    max_app_version_labels: int = 50

    # Compact REST: answers below this size are not worth compressing (headers cost more).
    compress_min_bytes: int = 512
    brotli_quality: int = 5
    zstd_level: int = 3
    gzip_level: int = 6

    # App config: how long a replica serves a config it read before reading it again (also
    # which app versions have a GraphQL safelist); a change heard over Redis drops it at once.
    app_config_ttl_s: float = 5.0

    # Rate limits: "hits/seconds" per route class, for each device and each user.
    rate_limits: dict[str, str] = {
        "auth": "30/60",
        "read": "600/60",
        "write": "120/60",
        "batch": "30/60",
        "upload": "600/60",
        "graphql": "600/60",
    }
    batch_max_requests: int = Field(default=MAX_ITEMS, ge=1, le=MAX_ITEMS)
    batch_item_timeout_s: float = 10.0
    dashboard_page_size: int = 20
    dashboard_section_timeout_s: float = 2.0
    # How long the last good copy of a page may stand in, marked stale, for a failing service.
    dashboard_cache_ttl_s: float = 300.0
    # Answer a page from memory while the user's change version at its service is unchanged
    # (off: every read calls the service; for benchmarks and debugging).
    reuse_current_pages: bool = True
    # How long a session found live is trusted without reading it again (a revocation is
    # heard at once on every replica; this bounds what a lost message could cost).
    session_check_ttl_s: float = 60.0

    # Idempotency-Key on unsafe REST calls: how long an answer is kept for retries (a phone's
    # offline queue may retry days later), the lease of a running request on its key (renewed
    # while it runs, so this is how soon the key of a request whose BFF died is free again),
    # the largest answer kept (a larger one is not: its key is freed, and a retry runs
    # again), and the clean-up of expired keys.
    idempotency_retention_s: float = Field(default=7 * 24 * 3600.0, gt=0)
    idempotency_in_flight_s: float = Field(default=10.0, gt=0)
    idempotency_max_answer_bytes: int = Field(default=256 * 1024, ge=0)
    idempotency_prune_every_s: float = Field(default=600.0, gt=0)
    idempotency_prune_batch: int = Field(default=1000, ge=1)
    # Sync: how long a pull waits for one service's changes before it answers without them
    # (their part of the cursor stays put), the most mutations one push applies, and how
    # long after a user's first change their other devices are poked (writes in between
    # make one poke).
    sync_source_timeout_s: float = Field(default=3.0, gt=0)
    sync_push_max_items: int = Field(default=100, ge=1, le=1000)
    poke_debounce_s: float = Field(default=0.5, ge=0, le=1.5)

    @field_validator("signed_requests", "attestation_required", mode="before")
    @classmethod
    def _platform_list(cls, value: object) -> object:
        """ "ios,android" (the environment's form) or any iterable of platform names."""
        names = value.split(",") if isinstance(value, str) else value
        if not isinstance(names, list | tuple | set | frozenset):
            return value
        platforms = frozenset(str(name).strip().lower() for name in names) - {""}
        unknown = platforms - KNOWN_PLATFORMS
        if unknown:
            raise ValueError(f"unknown platforms {sorted(unknown)}; known: ios, android")
        return platforms

    @model_validator(mode="after")
    def _check_request_signing(self) -> BffSettings:
        prefix = "TERN_BFF_"
        secret = self.signing_keys_secret
        if secret is not None and len(secret.get_secret_value().encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"{prefix}SIGNING_KEYS_SECRET needs {MIN_SECRET_BYTES}+ bytes")
        stand_in = self.attestation_verifier == DEVELOPMENT_ATTESTATION
        if self.environment == "production" and self.attestation_required and stand_in:
            raise ValueError(
                f"{prefix}ATTESTATION_VERIFIER must name a real verifier (module:factory) in "
                f"production while {prefix}ATTESTATION_REQUIRED lists platforms; the "
                "development stand-in accepts a published test token"
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
