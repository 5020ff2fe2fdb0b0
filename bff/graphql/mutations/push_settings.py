"""Mutations of the viewer's push settings: device push tokens, topics, preferences."""

from __future__ import annotations

from typing import Annotated

import strawberry
from pydantic import BaseModel, Field
from strawberry.types import Info

from bff.graphql.context import Context
from bff.graphql.mutations.user_errors import attempt, contract, input_values
from bff.graphql.types.device import Device
from bff.graphql.types.preferences import Preferences
from bff.graphql.types.topic_subscription import TopicSubscription
from bff.graphql.types.user_error import UserError
from bff.mobile_headers import current_mobile_headers, valid_device_id
from bff.push_settings import TOPIC_PATTERN, with_phone_timezone
from proto.notifications import DeviceRegister
from proto.notifications import Preferences as PreferencesContract


@strawberry.input
class RegisterPushTokenInput:
    """The push token of one of the viewer's devices (`platform`: ios or android)."""

    device_id: str
    token: str
    platform: str
    app_version: str | None = strawberry.UNSET
    locale: str | None = strawberry.UNSET
    timezone: str | None = strawberry.UNSET


@strawberry.type
class RegisterPushTokenPayload:
    device: Device | None
    user_errors: list[UserError]


@strawberry.input
class UnregisterDeviceInput:
    device_id: str


@strawberry.type
class UnregisterDevicePayload:
    device_id: str | None
    user_errors: list[UserError]


@strawberry.input
class TopicInput:
    device_id: str
    topic: str


@strawberry.type
class FollowTopicPayload:
    subscription: TopicSubscription | None
    user_errors: list[UserError]


@strawberry.type
class UnfollowTopicPayload:
    device_id: str | None
    topic: str | None
    user_errors: list[UserError]


@strawberry.input
class QuietHoursInput:
    """Local time, HH:MM; may wrap midnight."""

    start: str
    end: str


@strawberry.input
class NotificationPreferencesInput:
    """The whole preferences (they replace the kept ones); without `timezone`, the phone's
    X-Timezone is taken."""

    timezone: str | None = strawberry.UNSET
    quiet_hours: QuietHoursInput | None = strawberry.UNSET
    muted_categories: list[str] | None = strawberry.UNSET
    hourly_cap: int | None = strawberry.UNSET


@strawberry.type
class PreferencesPayload:
    preferences: Preferences | None
    user_errors: list[UserError]


class _Topic(BaseModel):
    device_id: str
    topic: Annotated[str, Field(pattern=TOPIC_PATTERN)]


_FIELDS = {
    "INVALID_DEVICE_ID": ["device_id"],
    "DEVICE_NOT_FOUND": ["device_id"],
    "TOO_MANY_DEVICES": ["device_id"],
}


@strawberry.type
class PushSettingsMutations:
    @strawberry.mutation
    async def register_push_token(
        self, info: Info[Context, None], input: RegisterPushTokenInput
    ) -> RegisterPushTokenPayload:
        """Register or update the push token of one of the viewer's devices."""
        user = info.context.require_user()
        notifications = info.context.clients.notifications

        async def register() -> Device:
            values = input_values(input)
            device_id = valid_device_id(values.pop("device_id"))
            register = contract(DeviceRegister, values)
            device = await notifications.register_device(str(user.id), device_id, register)
            return Device.from_model(device)

        result = await attempt(register, _FIELDS)
        if isinstance(result, list):
            return RegisterPushTokenPayload(device=None, user_errors=result)
        return RegisterPushTokenPayload(device=result, user_errors=[])

    @strawberry.mutation
    async def unregister_device(
        self, info: Info[Context, None], input: UnregisterDeviceInput
    ) -> UnregisterDevicePayload:
        """Stop pushing to one of the viewer's devices."""
        user = info.context.require_user()
        notifications = info.context.clients.notifications

        async def unregister() -> str:
            device_id = valid_device_id(input.device_id)
            await notifications.unregister_device(str(user.id), device_id)
            return device_id

        result = await attempt(unregister, _FIELDS)
        if isinstance(result, list):
            return UnregisterDevicePayload(device_id=None, user_errors=result)
        return UnregisterDevicePayload(device_id=result, user_errors=[])

    @strawberry.mutation
    async def follow_topic(
        self, info: Info[Context, None], input: TopicInput
    ) -> FollowTopicPayload:
        """Subscribe one of the viewer's devices to a topic (again: no change)."""
        user = info.context.require_user()
        notifications = info.context.clients.notifications

        async def follow() -> TopicSubscription:
            target = contract(_Topic, input_values(input))
            device_id = valid_device_id(target.device_id)
            subscription = await notifications.subscribe(str(user.id), device_id, target.topic)
            return TopicSubscription.from_model(subscription)

        result = await attempt(follow, _FIELDS)
        if isinstance(result, list):
            return FollowTopicPayload(subscription=None, user_errors=result)
        return FollowTopicPayload(subscription=result, user_errors=[])

    @strawberry.mutation
    async def unfollow_topic(
        self, info: Info[Context, None], input: TopicInput
    ) -> UnfollowTopicPayload:
        """Unsubscribe one of the viewer's devices from a topic."""
        user = info.context.require_user()
        notifications = info.context.clients.notifications

        async def unfollow() -> _Topic:
            target = contract(_Topic, input_values(input))
            device_id = valid_device_id(target.device_id)
            await notifications.unsubscribe(str(user.id), device_id, target.topic)
            return target

        result = await attempt(unfollow, _FIELDS)
        if isinstance(result, list):
            return UnfollowTopicPayload(device_id=None, topic=None, user_errors=result)
        return UnfollowTopicPayload(device_id=result.device_id, topic=result.topic, user_errors=[])

    @strawberry.mutation
    async def update_notification_preferences(
        self, info: Info[Context, None], input: NotificationPreferencesInput
    ) -> PreferencesPayload:
        """Replace the viewer's push preferences."""
        user = info.context.require_user()
        notifications = info.context.clients.notifications

        async def update() -> Preferences:
            preferences = contract(PreferencesContract, input_values(input))
            timezone = current_mobile_headers().timezone
            kept = await notifications.put_preferences(
                str(user.id), with_phone_timezone(preferences, timezone)
            )
            return Preferences.from_model(kept)

        result = await attempt(update)
        if isinstance(result, list):
            return PreferencesPayload(preferences=None, user_errors=result)
        return PreferencesPayload(preferences=result, user_errors=[])
