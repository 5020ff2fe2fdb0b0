"""The viewer's push preferences: timezone, quiet hours, muted categories, hourly cap."""

from __future__ import annotations

import strawberry

from proto.notifications import Preferences as PreferencesContract
from proto.notifications import QuietHours as QuietHoursContract


@strawberry.type
class QuietHours:
    """Display pushes inside [start, end) local time (HH:MM) wait until `end`."""

    start: str
    end: str

    @classmethod
    def from_model(cls, quiet_hours: QuietHoursContract) -> QuietHours:
        return cls(start=quiet_hours.start, end=quiet_hours.end)


@strawberry.type
class Preferences:
    timezone: str
    quiet_hours: QuietHours | None
    muted_categories: list[str]
    hourly_cap: int | None

    @classmethod
    def from_model(cls, preferences: PreferencesContract) -> Preferences:
        """From `Preferences` as the notifications service answers them."""
        quiet = preferences.quiet_hours
        return cls(
            timezone=preferences.timezone,
            quiet_hours=QuietHours.from_model(quiet) if quiet is not None else None,
            muted_categories=list(preferences.muted_categories),
            hourly_cap=preferences.hourly_cap,
        )
