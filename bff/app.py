"""The BFF app: public REST under /api/v1, GraphQL at /graphql, over the four services."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.middleware import Middleware

from bff.app_config.service import AppConfigService
from bff.app_config.version_gate import VersionGateMiddleware
from bff.auth.access_tokens import AccessTokens
from bff.auth.passwords import Passwords
from bff.auth.service import AuthService
from bff.clients import ServiceClients
from bff.compact.compression import Compressors
from bff.compact.representation import RepresentationMiddleware
from bff.graphql.schema import build_graphql_router
from bff.mobile_headers import (
    METRIC_LABELS,
    MobileHeadersMiddleware,
    log_fields,
    metric_labeler,
)
from bff.rate_limits import RateLimitMiddleware
from bff.routes import API_PREFIX, build_api_router
from bff.routes.models import MODEL_UPLOADS_PATH
from bff.routes.uploads import CHUNKS_PATH
from bff.settings import BffSettings
from services.kit.app_factory import create_service_app
from services.kit.errors import ApiError
from services.kit.runtime import ServiceRuntime

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def create_app(settings: BffSettings | None = None) -> FastAPI:
    """The BFF, with its own database for users and sessions."""
    settings = settings or BffSettings()
    app = create_service_app(
        settings,
        title="Tern BFF",
        migrations_dir=MIGRATIONS_DIR,
        downstreams=settings.downstream_urls(),
        ready_checks_downstreams=True,
        metric_labels=METRIC_LABELS,
        extra_labels=metric_labeler(settings.max_app_version_labels),
        log_fields=log_fields,
        body_limit_overrides={
            CHUNKS_PATH: settings.upload_chunk_max_bytes + settings.upload_chunk_margin_bytes,
            MODEL_UPLOADS_PATH: settings.model_upload_max_bytes
            + settings.upload_chunk_margin_bytes,
        },
    )
    runtime: ServiceRuntime = app.state.runtime
    app.state.clients = ServiceClients.from_runtime(runtime)
    app.state.auth = build_auth_service(settings, runtime)
    app.state.app_config = AppConfigService(runtime.db, settings.app_config_ttl_s)
    app.add_middleware(MobileHeadersMiddleware)
    add_phone_middleware(app, settings, runtime)
    app.include_router(build_api_router())
    app.include_router(build_graphql_router(settings))
    return app


def add_phone_middleware(app: FastAPI, settings: BffSettings, runtime: ServiceRuntime) -> None:
    """Version gate, rate limits and the compact representation, for every API route."""
    access_tokens = _access_tokens(settings)

    def user_of(token: str) -> str | None:
        try:
            return str(access_tokens.verify(token).user_id)
        except ApiError:
            return None

    # Appended, not added: they run inside the kit's request context, so that their 426, 429
    # and 304 answers carry the request id and are logged and counted like any other.
    app.user_middleware.extend(
        [
            Middleware(VersionGateMiddleware, config=app.state.app_config),
            Middleware(
                RateLimitMiddleware,
                cache=runtime.cache,
                limits=settings.rate_limits,
                user_of=user_of,
            ),
            Middleware(
                RepresentationMiddleware,
                prefix=f"{API_PREFIX}/",
                min_compress_bytes=settings.compress_min_bytes,
                compressors=Compressors(
                    settings.brotli_quality, settings.zstd_level, settings.gzip_level
                ),
            ),
        ]
    )


def _access_tokens(settings: BffSettings) -> AccessTokens:
    return AccessTokens(settings.jwt_secret.get_secret_value(), settings.access_token_ttl_s)


def build_auth_service(settings: BffSettings, runtime: ServiceRuntime) -> AuthService:
    """Accounts and sessions in the BFF's database."""
    return AuthService(
        runtime.db,
        Passwords(
            settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism
        ),
        _access_tokens(settings),
        refresh_token_ttl_s=settings.refresh_token_ttl_s,
        password_min_length=settings.password_min_length,
        password_max_length=settings.password_max_length,
    )
