"""Quiet hours in the user's timezone, opt-outs: the pure decisions."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from services.notifications.policy import (
    CATEGORY_MUTED,
    DEFAULT_POLICY,
    UserPolicy,
    decide,
    quiet_hours_end,
)


def _policy(
    zone: str, start: str = "22:00", end: str = "07:00", muted: tuple[str, ...] = ()
) -> UserPolicy:
    return UserPolicy(
        ZoneInfo(zone), (time.fromisoformat(start), time.fromisoformat(end)), frozenset(muted), None
    )


@pytest.mark.parametrize(
    ("zone", "now_utc", "expected_end_utc"),
    [
        # 23:30 in Paris (UTC+1 in winter): quiet until 07:00 Paris = 06:00 UTC next day.
        ("Europe/Paris", "2026-01-10T22:30:00", "2026-01-11T06:00:00"),
        # 02:00 in Tokyo (UTC+9): quiet until 07:00 Tokyo the same local day = 22:00 UTC.
        ("Asia/Tokyo", "2026-01-10T17:00:00", "2026-01-10T22:00:00"),
        # 17:30 in New York (UTC-5): not quiet.
        ("America/New_York", "2026-01-10T22:30:00", None),
        # The same instant is 23:30 in Paris but 17:30 in New York.
        ("America/New_York", "2026-01-11T04:00:00", "2026-01-11T12:00:00"),
        # Summer time: 22:30 in Paris is 20:30 UTC (UTC+2); 07:00 Paris is 05:00 UTC.
        ("Europe/Paris", "2026-07-10T20:30:00", "2026-07-11T05:00:00"),
        # Just before and exactly at the end: quiet, then not.
        ("Europe/Paris", "2026-01-11T05:59:00", "2026-01-11T06:00:00"),
        ("Europe/Paris", "2026-01-11T06:00:00", None),
    ],
)
def test_quiet_hours_are_read_in_the_users_timezone(
    zone: str, now_utc: str, expected_end_utc: str | None
) -> None:
    now = datetime.fromisoformat(now_utc).replace(tzinfo=UTC)
    end = quiet_hours_end(_policy(zone), now)
    expected = (
        datetime.fromisoformat(expected_end_utc).replace(tzinfo=UTC) if expected_end_utc else None
    )
    assert end == expected


def test_quiet_hours_within_one_day() -> None:
    siesta = _policy("Europe/Madrid", "14:00", "16:00")
    assert quiet_hours_end(siesta, datetime(2026, 1, 10, 13, 30, tzinfo=UTC)) == datetime(
        2026, 1, 10, 15, 0, tzinfo=UTC
    )
    assert quiet_hours_end(siesta, datetime(2026, 1, 10, 15, 30, tzinfo=UTC)) is None


def test_display_pushes_wait_silent_and_data_ones_do_not() -> None:
    now = datetime(2026, 1, 10, 22, 30, tzinfo=UTC)
    paris = _policy("Europe/Paris")
    assert decide(paris, "display", "general", now).not_before is not None
    assert decide(paris, "silent", "general", now).not_before is None
    assert decide(paris, "data", "general", now).not_before is None


def test_a_muted_category_is_suppressed_whatever_the_kind() -> None:
    now = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
    muted = _policy("UTC", muted=("marketing",))
    assert decide(muted, "display", "marketing", now).suppressed == CATEGORY_MUTED
    assert decide(muted, "silent", "marketing", now).suppressed == CATEGORY_MUTED
    assert decide(muted, "display", "training", now).suppressed is None
    assert decide(DEFAULT_POLICY, "display", "marketing", now).suppressed is None
