"""Real PostgreSQL / Redis for tests when TEST_DATABASE_URL / TEST_REDIS_URL are set.

Each test run makes its own PostgreSQL databases and drops them afterwards; for Redis it takes
a database index of its own and flushes it afterwards.
"""

from __future__ import annotations

import asyncio
import os
import random
import uuid
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import redis


def postgres_admin_url() -> str | None:
    return os.environ.get("TEST_DATABASE_URL") or None


def redis_admin_url() -> str | None:
    return os.environ.get("TEST_REDIS_URL") or None


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))


def _plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def create_postgres_database(admin_url: str, label: str) -> str:
    """Create a fresh database and return its URL."""
    name = f"tern_test_{label}_{uuid.uuid4().hex[:10]}"

    async def run() -> None:
        conn = await asyncpg.connect(_plain(admin_url))
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(run())
    return _with_database(admin_url, name)


def drop_postgres_database(admin_url: str, url: str) -> None:
    """Drop a database made by create_postgres_database (terminating its connections)."""
    name = urlsplit(url).path.lstrip("/")

    async def run() -> None:
        conn = await asyncpg.connect(_plain(admin_url))
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(run())


_CLAIM_KEY = "tern-test:claimed-by"


def claim_redis_database(admin_url: str) -> str:
    """A Redis URL on a database index that is empty now (so this run's keys are its own)."""
    parts = urlsplit(admin_url)
    for index in random.sample(range(1, 16), 15):
        url = urlunsplit((parts.scheme, parts.netloc, f"/{index}", "", ""))
        client = redis.Redis.from_url(url)
        try:
            # Claimed by the first to write its mark there: another test process (xdist) may
            # be looking at the same empty index.
            if client.dbsize() == 0 and client.set(_CLAIM_KEY, os.getpid(), nx=True):
                return url
        finally:
            client.close()
    raise RuntimeError("no empty Redis database index left for this test run")


def flush_redis_database(url: str) -> None:
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()
