"""The notifications service's entries in the kit's change feed (services/kit/change_feed.py):
inbox notifications with their read state, devices, topic subscriptions and preferences."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession

from proto.notifications import (
    FEED_DEVICE,
    FEED_NOTIFICATION,
    FEED_PUSH_PREFERENCES,
    FEED_TOPIC_SUBSCRIPTION,
)
from services.kit.change_feed import ChangeWriter, change_writer
from services.notifications.tables import FEED

NOTIFICATION = FEED_NOTIFICATION
DEVICE = FEED_DEVICE
SUBSCRIPTION = FEED_TOPIC_SUBSCRIPTION
PREFERENCES = FEED_PUSH_PREFERENCES


@asynccontextmanager
async def writer(session: AsyncSession, owner_id: str) -> AsyncIterator[ChangeWriter]:
    """The owner's change writer: enter it first in a writing transaction (it holds the
    owner's writers in line, so what is read next stays true to commit)."""
    async with change_writer(session, FEED, owner_id) as changes:
        yield changes


def subscription_key(device_id: str, topic: str) -> str:
    return f"{device_id}/{topic}"
