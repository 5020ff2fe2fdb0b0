"""A Redis for tests that need one (replicas sharing a version bus): TEST_REDIS_URL when set
(a database index of this run's own, flushed afterwards), else a `redis-server` process on a
free loopback port, else the test is skipped."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator

import pytest
import redis

from tests.support.backends import claim_redis_database, flush_redis_database, redis_admin_url
from tests.support.servers import free_port


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    admin = redis_admin_url()
    if admin is not None:
        url = claim_redis_database(admin)
        try:
            yield url
        finally:
            flush_redis_database(url)
        return
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("needs TEST_REDIS_URL or redis-server on PATH")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        _wait_until_serving(url, process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait_until_serving(url: str, process: subprocess.Popen[bytes], timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {process.returncode}")
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
    finally:
        client.close()
