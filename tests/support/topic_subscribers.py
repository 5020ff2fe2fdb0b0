"""Many devices subscribed to a topic, written straight into the notifications database.

For fan-out tests and benchmarks: registering thousands of devices through the API would
take longer than what they measure.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from services.notifications.repository import token_hash
from services.notifications.tables import DeviceRow, TopicSubscriptionRow


def seed_topic_subscribers(
    db_path: Path, topic: str, count: int, fcm_prefix: str, dead_every: int = 0
) -> list[str]:
    """`count` users with one phone each (even ones iOS, odd ones Android), every phone
    subscribed to `topic`, in the service's SQLite file at `db_path`; their push tokens.

    With `dead_every`, every `dead_every`-th token (the first included) starts with
    "invalid-": the fake provider answers it as a dead token."""
    engine = sa.create_engine(f"sqlite:///{db_path}")
    now = datetime.now(UTC)
    devices: list[dict[str, Any]] = []
    subscriptions: list[dict[str, Any]] = []
    tokens: list[str] = []
    for i in range(count):
        pk = uuid.uuid4()
        ios = i % 2 == 0
        token = f"{i:064x}" if ios else f"{fcm_prefix}-{i}"
        if dead_every and i % dead_every == 0:
            token = f"invalid-{token}"
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
