"""The BFF's own rules on push settings, shared by the REST routes and GraphQL mutations."""

from __future__ import annotations

from proto.notifications import Preferences

TOPIC_PATTERN = r"^[A-Za-z0-9_.~%-]{1,100}$"
"""A topic name as the BFF takes it: it travels in a URL path to the notifications service."""


def with_phone_timezone(preferences: Preferences, timezone: str | None) -> Preferences:
    """The preferences to keep: without a timezone of their own, the phone's (X-Timezone)."""
    if "timezone" in preferences.model_fields_set or not timezone:
        return preferences
    return preferences.model_copy(update={"timezone": timezone})
