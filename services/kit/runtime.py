"""What one running service holds: settings, database, cache, token issuer, downstream clients."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from services.kit.cache import Cache, build_cache
from services.kit.change_versions import VersionBus, build_version_bus, publish_committed
from services.kit.circuit_breaker import CircuitBreaker
from services.kit.database import Database
from services.kit.http_client import ServiceClient
from services.kit.metrics import HttpMetrics
from services.kit.service_auth import ServiceTokenIssuer, ServiceTokenVerifier
from services.kit.settings import ServiceSettings

ReadinessCheck = Callable[[], Awaitable[None]]


@dataclass
class ServiceRuntime:
    """Built by the app factory without any I/O; connections open lazily or in the lifespan."""

    settings: ServiceSettings
    db: Database
    cache: Cache
    tokens: ServiceTokenIssuer | None  # None: a production service that calls nobody
    verifier: ServiceTokenVerifier
    metrics: HttpMetrics
    versions: VersionBus
    clients: dict[str, ServiceClient] = field(default_factory=dict)
    checks: dict[str, ReadinessCheck] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        settings: ServiceSettings,
        downstreams: dict[str, str],
        metric_labels: tuple[str, ...] = (),
    ) -> ServiceRuntime:
        key = settings.signing_key()
        tokens = (
            None
            if key is None
            else ServiceTokenIssuer(key, settings.service_name, settings.service_token_ttl_s)
        )
        clients = _clients(settings, downstreams, tokens) if downstreams else {}
        db = Database(settings.sqlalchemy_url)
        versions = build_version_bus(settings.redis_url, settings.service_name)
        db.on_commit(publish_committed(versions))
        return cls(
            settings=settings,
            db=db,
            cache=build_cache(settings.redis_url, f"tern:{settings.service_name}"),
            tokens=tokens,
            verifier=ServiceTokenVerifier(
                settings.trusted_keys(), settings.service_name, callers=settings.accepted_callers
            ),
            metrics=HttpMetrics(settings.service_name, metric_labels),
            versions=versions,
            clients=clients,
        )

    def client(self, name: str) -> ServiceClient:
        """The client of one downstream service."""
        return self.clients[name]

    async def aclose(self) -> None:
        for client in self.clients.values():
            await client.aclose()
        await self.cache.close()
        await self.versions.close()
        await self.db.dispose()


def _clients(
    settings: ServiceSettings, downstreams: dict[str, str], tokens: ServiceTokenIssuer | None
) -> dict[str, ServiceClient]:
    if tokens is None:
        # Settings refuse this in production already (`calls` names what needs a key).
        raise ValueError(f"{settings.service_name} calls other services but has no signing key")
    return {
        name: ServiceClient(
            name,
            url,
            tokens,
            connect_timeout_s=settings.http_connect_timeout_s,
            timeout_s=settings.http_timeout_s,
            retries=settings.http_retries,
            breaker=CircuitBreaker(
                settings.breaker_failure_threshold, settings.breaker_reset_timeout_s
            ),
        )
        for name, url in downstreams.items()
    }
