"""What a user's preferences do to one push: mute it, cap it, or hold it until quiet hours end."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from proto.notifications import Preferences, QuietHours
from services.kit.errors import invalid_input
from services.notifications.tables import PreferencesRow

CATEGORY_MUTED = "CATEGORY_MUTED"
HOURLY_CAP = "HOURLY_CAP"


@dataclass(frozen=True, slots=True)
class UserPolicy:
    """A user's preferences, parsed once."""

    zone: ZoneInfo
    quiet: tuple[time, time] | None
    muted: frozenset[str]
    hourly_cap: int | None


DEFAULT_POLICY = UserPolicy(ZoneInfo("UTC"), None, frozenset(), None)


def zone_named(name: str) -> ZoneInfo:
    """The IANA zone `name`, or 400 INVALID_TIMEZONE."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise invalid_input(
            "INVALID_TIMEZONE", f"{name!r} is not an IANA timezone (e.g. Europe/Paris)"
        ) from exc


def policy_of(row: PreferencesRow | None) -> UserPolicy:
    """The policy stored preferences stand for (the default when there are none)."""
    if row is None:
        return DEFAULT_POLICY
    quiet = None
    if row.quiet_start and row.quiet_end:
        quiet = (time.fromisoformat(row.quiet_start), time.fromisoformat(row.quiet_end))
    return UserPolicy(
        ZoneInfo(row.timezone), quiet, frozenset(row.muted_categories), row.hourly_cap
    )


def preferences_of(row: PreferencesRow | None) -> Preferences:
    if row is None:
        return Preferences()
    quiet = None
    if row.quiet_start and row.quiet_end:
        quiet = QuietHours(start=row.quiet_start, end=row.quiet_end)
    return Preferences(
        timezone=row.timezone,
        quiet_hours=quiet,
        muted_categories=list(row.muted_categories),
        hourly_cap=row.hourly_cap,
    )


def quiet_hours_end(policy: UserPolicy, now: datetime) -> datetime | None:
    """When the quiet hours `now` falls in end (UTC), or None when `now` is not in them."""
    if policy.quiet is None:
        return None
    start, end = policy.quiet
    if start == end:
        return None
    local = now.astimezone(policy.zone)
    at = local.time().replace(tzinfo=None)
    inside = start <= at < end if start < end else (at >= start or at < end)
    if not inside:
        return None
    end_day = local.date() if at < end else local.date() + timedelta(days=1)
    return datetime.combine(end_day, end, tzinfo=policy.zone).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Decision:
    """Send now, send later (`not_before`), or not at all (`suppressed` names why)."""

    suppressed: str | None = None
    not_before: datetime | None = None


def decide(policy: UserPolicy, kind: str, category: str, now: datetime) -> Decision:
    """Apply opt-outs and quiet hours; silent and data pushes never wait."""
    if category in policy.muted:
        return Decision(suppressed=CATEGORY_MUTED)
    if kind == "display":
        return Decision(not_before=quiet_hours_end(policy, now))
    return Decision()


def counts_against_cap(policy: UserPolicy, kind: str) -> bool:
    """Only display pushes (what the user sees) count against the hourly cap."""
    return policy.hourly_cap is not None and kind == "display"


def hour_of(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
