"""The whole system as real processes on free loopback ports, in each backend mode available."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from infra.local.stack import DATABASE_SERVICES, SERVICES, Stack, StackConfig
from tests.support import backends
from tests.support.servers import free_port


def _modes() -> list[str]:
    # Embedded defaults on Granian (the default server), and a second pass on Hypercorn, the
    # other supported server, so that nothing comes to depend on one server: on PostgreSQL +
    # Redis when TEST_* URLs are set (CI), else on the embedded defaults again.
    if backends.postgres_admin_url() or backends.redis_admin_url():
        return ["embedded", "postgres_redis"]
    return ["embedded", "hypercorn"]


@pytest.fixture(scope="module", params=_modes())
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """All six processes; again on Hypercorn (with PostgreSQL + Redis when TEST_* URLs are
    set)."""
    mode: str = request.param
    data_dir: Path = tmp_path_factory.mktemp(f"stack-{mode}")
    database_urls: dict[str, str] = {}
    redis_url: str | None = None
    admin_pg = backends.postgres_admin_url()
    admin_redis = backends.redis_admin_url()
    if mode == "postgres_redis":
        if not admin_pg or not admin_redis:
            pytest.fail("postgres_redis mode needs both TEST_DATABASE_URL and TEST_REDIS_URL")
        database_urls = {
            name: backends.create_postgres_database(admin_pg, name) for name in DATABASE_SERVICES
        }
        redis_url = backends.claim_redis_database(admin_redis)
    config = StackConfig(
        data_dir=data_dir,
        ports={name: free_port() for name, _module, _port in SERVICES},
        service_token_secret=secrets.token_urlsafe(32),
        jwt_secret=secrets.token_urlsafe(32),
        environment="test",
        database_urls=database_urls,
        redis_url=redis_url,
        server=None if mode == "embedded" else "hypercorn",
    )
    running = Stack(config)
    try:
        running.start(timeout_s=120)
        yield running
    finally:
        running.stop()
        for url in database_urls.values():
            backends.drop_postgres_database(admin_pg or "", url)
        if redis_url:
            backends.flush_redis_database(redis_url)


@pytest.fixture
def bff(stack: Stack) -> Iterator[httpx.Client]:
    """A client of the BFF's public API."""
    with httpx.Client(base_url=stack.config.bff_url, timeout=30.0) as client:
        yield client
