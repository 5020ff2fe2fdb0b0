"""A real S3-compatible server for tests: moto's standalone server, a process on a free port.

The store under test talks to it over HTTP as it would to S3 or MinIO (signed requests,
multipart uploads, streamed bodies); nothing in the client is patched. Each test takes a
bucket of its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from services.kit.s3_file_store import S3Connection, S3FileStore, S3Location
from tests.support.servers import free_port

REGION = "us-east-1"
ACCESS_KEY_ID = "tern-test-key"
SECRET_ACCESS_KEY = "tern-test-secret"  # the test server accepts any


@dataclass(frozen=True)
class S3Server:
    """A running S3-compatible server and how to reach it."""

    endpoint_url: str

    @property
    def connection(self) -> S3Connection:
        return S3Connection(
            endpoint_url=self.endpoint_url,
            region=REGION,
            access_key_id=ACCESS_KEY_ID,
            secret_access_key=SECRET_ACCESS_KEY,
        )

    def new_bucket(self) -> str:
        """A fresh, empty bucket's name."""
        name = f"tern-{uuid.uuid4().hex[:16]}"
        httpx.put(f"{self.endpoint_url}/{name}").raise_for_status()
        return name

    def store(self, bucket: str | None = None, prefix: str = "", **options: Any) -> S3FileStore:
        """A store on `bucket` (a fresh one by default) under `prefix`."""
        location = S3Location(bucket or self.new_bucket(), prefix)
        return S3FileStore(location, self.connection, **options)

    def settings(self, bucket: str | None = None) -> dict[str, Any]:
        """A service's store settings (FileStoreSettings fields) for `bucket` (a fresh one)."""
        return {
            "store_url": f"s3://{bucket or self.new_bucket()}/tern",
            "store_endpoint_url": self.endpoint_url,
            "store_region": REGION,
            "store_access_key_id": ACCESS_KEY_ID,
            "store_secret_access_key": SECRET_ACCESS_KEY,
        }

    def keys(self, bucket: str) -> list[str]:
        """The keys in `bucket` (ListObjectsV2 over plain HTTP: the server checks no signature)."""
        answer = httpx.get(f"{self.endpoint_url}/{bucket}", params={"list-type": "2"})
        answer.raise_for_status()
        root = ET.fromstring(answer.text)
        return sorted(el.text or "" for el in root.iter() if el.tag.endswith("}Key"))


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's S3-compatible server, started once per test session."""
    port = free_port()
    env = {**os.environ, "AWS_DEFAULT_REGION": REGION}
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(url, process)
        yield S3Server(url)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_serving(url: str, process: subprocess.Popen[bytes], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the S3 test server exited with {process.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
