"""The BFF app: public REST under /api/v1, GraphQL at /graphql, over the four services."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import strawberry
from fastapi import FastAPI
from starlette.middleware import Middleware

from bff.admin.context import AdminContext
from bff.admin.dependencies import admin_principal
from bff.admin.endpoints import router as admin_router
from bff.app_config.replicas import build_config_bus, hearing_config_changes
from bff.app_config.service import AppConfigService
from bff.app_config.version_gate import VersionGateMiddleware
from bff.auth.access_tokens import AccessTokens
from bff.auth.attestation import AttestationChallenges, SignInAttestation, build_verifier
from bff.auth.passwords import Passwords
from bff.auth.service import AuthService
from bff.auth.session_checks import SessionChecks
from bff.auth.signing_keys import SigningKeys
from bff.auth.tables import FEED as SESSIONS_FEED
from bff.clients import ServiceClients
from bff.compact.compression import Compressors
from bff.compact.representation import RepresentationMiddleware
from bff.context import BffContext
from bff.dependencies import authenticate
from bff.graphql.router import build_graphql_router
from bff.graphql.safelists.service import Safelists
from bff.graphql.schema import build_document_checker, build_schema
from bff.graphql.subscriptions import serving_subscriptions
from bff.graphql.subscriptions.hub import fan_out
from bff.idempotency.middleware import IdempotencyMiddleware
from bff.idempotency.openapi import document_idempotency_key
from bff.idempotency.pruning import pruning
from bff.idempotency.store import IdempotencyStore
from bff.kept_pages import KeptPages
from bff.known_versions import ChangeListener, KnownVersions, watching
from bff.mobile_headers import (
    METRIC_LABELS,
    MobileHeadersMiddleware,
    log_fields,
    metric_labeler,
)
from bff.rate_limits import RateLimitMiddleware
from bff.routes import API_PREFIX, FIRST_API_ROUTES, OTHER_API_ROUTES, include_api_routes
from bff.routes.models import MODEL_UPLOADS_PATH
from bff.routes.uploads import CHUNKS_PATH
from bff.settings import BffSettings
from bff.signing.middleware import SignedRequestMiddleware
from bff.signing.openapi import document_request_signing
from bff.signing.policy import PlatformPolicy
from bff.signing.verifier import RequestSignatures
from bff.sync.entities import BFF as BFF_SOURCE
from bff.sync.pokes import Poker, poke_through
from services.kit.app_factory import create_service_app
from services.kit.change_versions import VersionBus, VersionEvent, build_version_bus, following
from services.kit.errors import ApiError
from services.kit.feed_endpoint import pruning_tombstones
from services.kit.openapi_document import Credentials
from services.kit.runtime import ServiceRuntime
from services.kit.structured_logging import get_logger

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_log = get_logger(__name__)


def create_app(settings: BffSettings | None = None) -> FastAPI:
    """The BFF, with its own database for users and sessions."""
    settings = settings or BffSettings()

    async def startup(runtime: ServiceRuntime, stack: AsyncExitStack) -> None:
        # Every change heard (the services' and the BFF's own) pokes the user's other devices.
        poker = await stack.enter_async_context(
            contextlib.aclosing(Poker(poke_through(context.clients), settings.poke_debounce_s))
        )
        context.known.listeners.append(poker.note)
        await stack.enter_async_context(watching(context.known, runtime.clients))
        # GraphQL subscriptions hear the same changes, and the BFF's own (sessions: revocation).
        hub = await stack.enter_async_context(serving_subscriptions(app.state, context))
        await stack.enter_async_context(
            _forgetting_changed_sessions(
                runtime.versions, context.auth.session_checks, fan_out(poker.note, hub.note)
            )
        )
        # An operator's config change (GraphQL safelists too), made through any replica,
        # reaches this one at once.
        await stack.enter_async_context(
            hearing_config_changes(context.app_config, context.safelists)
        )
        # The BFF's own feed (sessions) is read in-process by sync; its tombstones age out.
        await stack.enter_async_context(pruning_tombstones(runtime, SESSIONS_FEED))
        await stack.enter_async_context(
            pruning(
                context.idempotency,
                settings.idempotency_prune_every_s,
                settings.idempotency_prune_batch,
            )
        )

    app = create_service_app(
        settings,
        title="Tern BFF",
        migrations_dir=MIGRATIONS_DIR,
        downstreams=settings.downstream_urls(),
        startup=startup,
        ready_checks_downstreams=True,
        metric_labels=METRIC_LABELS,
        extra_labels=metric_labeler(settings.max_app_version_labels),
        log_fields=log_fields,
        body_limit_overrides={
            CHUNKS_PATH: settings.upload_chunk_max_bytes + settings.upload_chunk_margin_bytes,
            MODEL_UPLOADS_PATH: settings.model_upload_max_bytes
            + settings.upload_chunk_margin_bytes,
        },
        credentials=USER_TOKEN,
        # Sign-in and refresh failures (401), an old app version (426), a rate limit (429), a
        # service that cannot answer (503).
        error_statuses=frozenset({401, 426, 429, 503}),
        # A phone names its device by X-Device-ID: its writes poke its other devices.
        origin_device_header="x-device-id",
    )
    runtime: ServiceRuntime = app.state.runtime
    schema = build_schema(settings)
    context = build_context(settings, runtime, schema)
    app.state.context = context
    for name, client in runtime.clients.items():  # ready once each answers and is heard
        runtime.checks[name] = context.known.readiness_check(name, client)
    app.add_middleware(MobileHeadersMiddleware)
    add_phone_middleware(app, context)
    # In the order FastAPI tries them: the dashboard and sync, then GraphQL (after every REST
    # router, a query paid ~19 declines; it declines other paths at once), then the rest.
    include_api_routes(app, FIRST_API_ROUTES)
    app.include_router(
        build_graphql_router(schema, settings, runtime.cache, context.known, context.safelists)
    )
    include_api_routes(app, OTHER_API_ROUTES)
    # The operator surface: its own router and credential (admin tokens), outside /api/v1.
    app.state.admin = AdminContext.build(runtime.db)
    app.include_router(admin_router)
    document_idempotency_key(app)
    document_request_signing(app)
    return app


USER_TOKEN: Credentials = {
    authenticate: (
        "userToken",
        {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "the access token sign-in or refresh answered",
        },
    ),
    admin_principal: (
        "adminToken",
        {
            "type": "http",
            "scheme": "bearer",
            "description": "an admin token (`python -m bff.admin tokens create`), never a "
            "user's; each admin route needs one of its scopes",
        },
    ),
}


def build_context(
    settings: BffSettings, runtime: ServiceRuntime, schema: strawberry.Schema
) -> BffContext:
    """Everything the routes reach through `BffDep`, built without I/O."""
    # Replicas (Redis) tell each other what they learn from answers: read-your-writes on any.
    shared = build_version_bus(settings.redis_url, "bff-known") if settings.redis_url else None
    known = KnownVersions(runtime.clients, shared=shared)
    app_config = AppConfigService(
        runtime.db, settings.app_config_ttl_s, build_config_bus(settings.redis_url)
    )
    auth = build_auth_service(settings, runtime)
    return BffContext(
        settings=settings,
        runtime=runtime,
        clients=ServiceClients.from_runtime(runtime),
        auth=auth,
        app_config=app_config,
        known=known,
        pages=KeptPages(
            known,
            reuse=settings.reuse_current_pages,
            keep_s=settings.dashboard_cache_ttl_s,
        ),
        idempotency=IdempotencyStore(
            runtime.db,
            retention_s=settings.idempotency_retention_s,
            in_flight_s=settings.idempotency_in_flight_s,
            max_body_bytes=settings.idempotency_max_answer_bytes,
        ),
        signatures=RequestSignatures(
            auth.signing_keys,
            runtime.cache,
            PlatformPolicy(settings.signed_requests),
            settings.signature_window_s,
        ),
        attestation=SignInAttestation(
            build_verifier(settings),
            AttestationChallenges(runtime.cache, settings.attestation_challenge_ttl_s),
            PlatformPolicy(settings.attestation_required),
        ),
        # Operator config too: its changes travel on the app config's bus.
        safelists=Safelists(
            runtime.db,
            build_document_checker(schema, settings),
            max_documents=settings.graphql_safelist_max_documents,
            ttl_s=settings.app_config_ttl_s,
            bus=app_config.bus,
        ),
    )


def add_phone_middleware(app: FastAPI, context: BffContext) -> None:
    """Version gate, rate limits, request signatures, the compact representation and
    idempotency keys, for every API route."""
    settings = context.settings
    access_tokens = context.auth.access_tokens

    def user_of(token: str) -> str | None:
        try:
            return str(access_tokens.verify(token).user_id)
        except ApiError:
            return None

    # Appended, not added: they run inside the kit's request context, so that their 426, 429
    # and 304 answers carry the request id and are logged and counted like any other.
    app.user_middleware.extend(
        [
            Middleware(VersionGateMiddleware, config=context.app_config),
            Middleware(
                RateLimitMiddleware,
                cache=context.runtime.cache,
                limits=settings.rate_limits,
                user_of=user_of,
            ),
            # Outside anything that reads the body: the signature covers the bytes as sent.
            Middleware(
                SignedRequestMiddleware,
                auth=context.auth,
                signatures=context.signatures,
            ),
            Middleware(
                RepresentationMiddleware,
                prefix=f"{API_PREFIX}/",
                min_compress_bytes=settings.compress_min_bytes,
                compressors=Compressors(
                    settings.brotli_quality, settings.zstd_level, settings.gzip_level
                ),
            ),
            # Inside the representation: it keeps the route's own answer, and a replay is
            # shaped and compressed for the request that asks again (see its module).
            Middleware(IdempotencyMiddleware, store=context.idempotency, user_of=user_of),
        ]
    )


def build_auth_service(settings: BffSettings, runtime: ServiceRuntime) -> AuthService:
    """Accounts and sessions in the BFF's database."""
    return AuthService(
        runtime.db,
        Passwords(
            settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism
        ),
        AccessTokens(settings.jwt_secret.get_secret_value(), settings.access_token_ttl_s),
        refresh_token_ttl_s=settings.refresh_token_ttl_s,
        password_min_length=settings.password_min_length,
        password_max_length=settings.password_max_length,
        session_checks=SessionChecks(settings.session_check_ttl_s),
        signing_keys=SigningKeys(runtime.db, _signing_keys_secret(settings)),
    )


def _signing_keys_secret(settings: BffSettings) -> str:
    """What seals the sessions' signing keys: its own secret, else one derived from the JWT
    secret (HKDF with its own label, so neither key is the other)."""
    secret = settings.signing_keys_secret or settings.jwt_secret
    return secret.get_secret_value()


@contextlib.asynccontextmanager
async def _forgetting_changed_sessions(
    bus: VersionBus, checks: SessionChecks, on_change: ChangeListener
) -> AsyncIterator[None]:
    """While open: a change to a user's sessions on any replica (the BFF's own version bus)
    makes this one check that user's sessions again. Session checks are remembered only while
    the bus is heard: a lost bus forgets them all until it is back."""

    def heard(event: VersionEvent) -> None:
        checks.forget_user(uuid.UUID(event[0]))
        on_change(BFF_SOURCE, *event)

    # While the bus is lost, every session is checked (Redis unreachable included).
    async with following(bus, heard, name="session", on_heard=checks.listening):
        yield
