"""What a phone does, step by step, over the BFF's public API (shared by the integration tests)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx

from infra.local.seed import upload_csv


class Phone:
    """One signed-in user on one device."""

    def __init__(self, client: httpx.Client, email: str | None = None) -> None:
        self.client = client
        self.device_id = f"device-{uuid.uuid4().hex[:12]}"
        self.email = email or f"user-{uuid.uuid4().hex[:8]}@example.com"
        response = client.post(
            "/api/v1/auth/register",
            json={"email": self.email, "password": "correct horse battery"},
            headers={"X-Device-ID": self.device_id},
        )
        assert response.status_code == 201, response.text
        body = response.json()
        self.user_id: str = body["user"]["id"]
        self.access_token: str = body["access_token"]

    @property
    def headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.access_token}",
            "X-Device-ID": self.device_id,
            "X-Platform": "ios",
            "X-App-Version": "1.4.0",
        }

    def get(
        self, path: str, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        return self.client.get(path, headers={**self.headers, **(headers or {})}, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.post(path, headers=self.headers, **kwargs)

    def put(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.put(path, headers=self.headers, **kwargs)

    def register_push_token(self, token: str, platform: str) -> None:
        response = self.put(
            f"/api/v1/devices/{self.device_id}/push-token",
            json={"token": token, "platform": platform, "app_version": "1.4.0"},
        )
        assert response.status_code == 200, response.text

    def upload(self, filename: str, content: bytes) -> dict[str, Any]:
        return upload_csv(self.client, self.headers, filename, content)

    def wait_for_job(self, job_id: str, timeout_s: float = 120.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            response = self.get(f"/api/v1/training-jobs/{job_id}")
            assert response.status_code == 200, response.text
            job: dict[str, Any] = response.json()
            if job["status"] in ("succeeded", "failed", "cancelled"):
                return job
            assert time.monotonic() < deadline, f"job still {job['status']} after {timeout_s}s"
            time.sleep(0.25)


def wait_for_pushes(
    fake_push_url: str, token: str, count: int, timeout_s: float = 30.0, *, pokes: bool = False
) -> list[dict[str, Any]]:
    """What the fake provider received for one device token, once `count` pushes arrived:
    the notifications, or with `pokes` only the silent pushes that tell a device to sync."""
    deadline = time.monotonic() + timeout_s
    with httpx.Client(base_url=fake_push_url, timeout=5.0) as client:
        while True:
            received: list[dict[str, Any]] = [
                push
                for push in client.get("/_fake/received", params={"token": token}).json()
                if is_poke(push) == pokes
            ]
            if len(received) >= count or time.monotonic() > deadline:
                return received
            time.sleep(0.2)


def is_poke(push: dict[str, Any]) -> bool:
    """A sync poke: data {"tern": scope} and nothing else (APNs at the top, FCM in data)."""
    payload = push["payload"]
    return "tern" in payload or "tern" in (payload.get("data") or {})
