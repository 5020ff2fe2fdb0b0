"""A topic that one of the viewer's devices follows."""

from __future__ import annotations

from datetime import datetime

import strawberry

from proto.notifications import TopicSubscription as TopicSubscriptionContract


@strawberry.type
class TopicSubscription:
    topic: str
    device_id: strawberry.ID
    created_at: datetime

    @classmethod
    def from_model(cls, subscription: TopicSubscriptionContract) -> TopicSubscription:
        """From a `TopicSubscription` as the notifications service answers it."""
        return cls(
            topic=subscription.topic,
            device_id=strawberry.ID(subscription.device_id),
            created_at=subscription.created_at,
        )
