"""kill -9 the notifications process in the middle of a topic fan-out, restart it: every
subscriber gets the push exactly once. Real processes on loopback ports."""

from __future__ import annotations

import dataclasses
import secrets
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from infra.local.stack import Stack, StackConfig
from services.notifications.repository import token_hash
from services.notifications.tables import DeviceRow, TopicSubscriptionRow
from tests.support.apps import service_headers
from tests.support.servers import free_port

SUBSCRIBERS = 2000
PAGE = 20
ENV = "TERN_NOTIFICATIONS_"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    config = StackConfig(
        data_dir=tmp_path,
        ports={"fake_push": free_port(), "notifications": free_port()},
        service_token_secret=secrets.token_urlsafe(32),
        jwt_secret=secrets.token_urlsafe(32),
        environment="test",
        # First life: fan out only (no sending), small pages so the kill lands mid-way.
        # A short lease: the restarted process takes over the dead one's broadcast quickly.
        extra_env={
            f"{ENV}DISPATCH_ENABLED": "false",
            f"{ENV}FANOUT_PAGE_SIZE": str(PAGE),
            f"{ENV}FANOUT_LEASE_S": "1",
            f"{ENV}FANOUT_POLL_S": "0.2",
        },
    )
    running = Stack(config, only=("fake_push", "notifications"))
    try:
        running.start(timeout_s=60)
        yield running
    finally:
        running.stop()


def _seed_subscribers(db_path: Path, topic: str) -> list[str]:
    """Devices and their subscriptions, written straight into the service's database."""
    engine = sa.create_engine(f"sqlite:///{db_path}")
    now = datetime.now(UTC)
    devices, subscriptions, tokens = [], [], []
    for i in range(SUBSCRIBERS):
        pk = uuid.uuid4()
        ios = i % 2 == 0
        token = f"{i:064x}" if ios else f"fcm-crash-{i}"
        tokens.append(token)
        devices.append(
            {
                "id": pk,
                "owner_id": f"user-{i}",
                "device_id": "phone",
                "platform": "ios" if ios else "android",
                "token": token,
                "token_hash": token_hash(token),
                "created_at": now,
                "updated_at": now,
            }
        )
        subscriptions.append(
            {
                "id": uuid.uuid4(),
                "topic": topic,
                "device_pk": pk,
                "owner_id": f"user-{i}",
                "created_at": now,
            }
        )
    with engine.begin() as conn:
        conn.execute(sa.insert(DeviceRow), devices)
        conn.execute(sa.insert(TopicSubscriptionRow), subscriptions)
    engine.dispose()
    return tokens


def test_kill_9_mid_fan_out_then_restart_loses_nothing_and_sends_nothing_twice(
    stack: Stack,
) -> None:
    config = stack.config
    tokens = _seed_subscribers(config.data_dir / "notifications.db", "all-users")
    headers = service_headers("notifications", None, secret=config.service_token_secret)
    service = httpx.Client(base_url=config.url("notifications"), headers=headers, timeout=10)
    fake = httpx.Client(base_url=config.url("fake_push"), timeout=30)
    with service, fake:
        created = service.post(
            "/internal/v1/topics/all-users/broadcasts",
            json={"title": "New model", "idempotency_key": "crash-1"},
        )
        assert created.status_code == 202, created.text
        broadcast_id = created.json()["broadcast_id"]
        progress = _wait_for_partial_fan_out(service, broadcast_id)
        stack.kill("notifications")
        assert 0 < progress < SUBSCRIBERS  # it really died half-way

        stack.config = dataclasses.replace(
            config,
            extra_env={
                f"{ENV}FANOUT_PAGE_SIZE": str(PAGE),
                f"{ENV}FANOUT_LEASE_S": "1",
                f"{ENV}FANOUT_POLL_S": "0.2",
            },
        )
        stack.restart("notifications")
        deadline = time.monotonic() + 60
        received: list[dict[str, object]] = []
        while time.monotonic() < deadline:
            received = fake.get("/_fake/received").json()
            if len(received) >= SUBSCRIBERS:
                break
            time.sleep(0.2)
        time.sleep(0.5)  # a duplicate would arrive by now
        received = fake.get("/_fake/received").json()
        final = service.get(f"/internal/v1/broadcasts/{broadcast_id}").json()

    got = [str(p["token"]) for p in received]
    assert len(got) == SUBSCRIBERS
    assert sorted(got) == sorted(tokens)  # every subscriber, none twice
    assert (final["status"], final["deliveries"]) == ("done", SUBSCRIBERS)


def _wait_for_partial_fan_out(service: httpx.Client, broadcast_id: str) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        state = service.get(f"/internal/v1/broadcasts/{broadcast_id}").json()
        if state["deliveries"] >= SUBSCRIBERS // 5:
            return int(state["deliveries"])
        time.sleep(0.01)
    raise AssertionError("the fan-out never got going")
