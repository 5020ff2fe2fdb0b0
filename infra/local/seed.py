"""Seed a running stack through the public REST API: a demo user, a device and a dataset."""

from __future__ import annotations

import hashlib
import ssl
from dataclasses import dataclass

import httpx

from infra.local.demo_data import churn_csv

DEMO_EMAIL = "demo@tern.dev"
DEMO_PASSWORD = "tern-demo-password"  # noqa: S105 - a documented local demo account
DEMO_DEVICE_ID = "demo-iphone"
DEMO_PUSH_TOKEN = "a1" * 32  # an APNs-shaped device token; the local fake provider accepts it


@dataclass(frozen=True)
class SeedResult:
    user_id: str
    access_token: str
    dataset_id: str


def sign_in(client: httpx.Client, email: str, password: str, device_id: str) -> dict[str, object]:
    """Register the account, or log in when it already exists."""
    headers = {"X-Device-ID": device_id}
    body = {"email": email, "password": password}
    response = client.post("/api/v1/auth/register", json=body, headers=headers)
    if response.status_code == 409:
        response = client.post("/api/v1/auth/login", json=body, headers=headers)
    response.raise_for_status()
    data: dict[str, object] = response.json()
    return data


def upload_csv(
    client: httpx.Client, headers: dict[str, str], filename: str, content: bytes
) -> dict[str, object]:
    """Upload a file with the resumable chunk protocol and complete it."""
    created = client.post(
        "/api/v1/uploads",
        headers=headers,
        json={
            "filename": filename,
            "size": len(content),
            "sha256": hashlib.sha256(content).hexdigest(),
            "content_type": "text/csv",
        },
    )
    created.raise_for_status()
    session = created.json()
    chunk_size = int(session["chunk_size"])
    for n in range(int(session["chunk_count"])):
        chunk = content[n * chunk_size : (n + 1) * chunk_size]
        client.put(
            f"/api/v1/uploads/{session['upload_id']}/chunks/{n}",
            headers={**headers, "X-Chunk-SHA256": hashlib.sha256(chunk).hexdigest()},
            content=chunk,
        ).raise_for_status()
    completed = client.post(f"/api/v1/uploads/{session['upload_id']}/complete", headers=headers)
    completed.raise_for_status()
    version: dict[str, object] = completed.json()
    return version


def seed(bff_url: str, verify: ssl.SSLContext | bool = True) -> SeedResult:
    """Idempotent: running it twice leaves one user, one device and one dataset."""
    with httpx.Client(base_url=bff_url, timeout=30.0, verify=verify) as client:
        auth = sign_in(client, DEMO_EMAIL, DEMO_PASSWORD, DEMO_DEVICE_ID)
        headers = {"Authorization": f"Bearer {auth['access_token']}", "X-Device-ID": DEMO_DEVICE_ID}
        client.put(
            f"/api/v1/devices/{DEMO_DEVICE_ID}/push-token",
            headers=headers,
            json={"token": DEMO_PUSH_TOKEN, "platform": "ios", "app_version": "1.0.0"},
        ).raise_for_status()
        datasets = client.get("/api/v1/datasets", headers=headers)
        datasets.raise_for_status()
        items = datasets.json()["items"]
        if items:
            dataset_id = str(items[0]["id"])
        else:
            version = upload_csv(client, headers, "churn.csv", churn_csv())
            dataset_id = str(version["dataset_id"])
        user = auth["user"]
        assert isinstance(user, dict)
        return SeedResult(str(user["id"]), str(auth["access_token"]), dataset_id)
