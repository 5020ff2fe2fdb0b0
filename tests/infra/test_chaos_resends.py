"""`make chaos` tells a push resent across the notifications crash (at-least-once sending,
one collapse id: one notification on the phone) from a push delivered twice (a bug)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.chaos import resent_across

KILLED = datetime(2026, 12, 6, 21, 0, 0, tzinfo=UTC)


def _copy(
    at: datetime, collapse_id: str | None = "n-1", title: str = "Model ready"
) -> dict[str, Any]:
    headers = {"apns-push-type": "alert"}
    if collapse_id is not None:
        headers["apns-collapse-id"] = collapse_id
    return {
        "headers": headers,
        "payload": {"aps": {"alert": {"title": title}}, "notification_id": "n-1"},
        "received_at": at.isoformat(),
    }


def test_a_copy_sent_before_the_kill_and_again_after_it_is_a_resend() -> None:
    before, after = KILLED - timedelta(milliseconds=5), KILLED + timedelta(seconds=7)

    assert resent_across([_copy(after), _copy(before)], KILLED)


def test_two_copies_on_one_side_of_the_kill_are_a_duplicate() -> None:
    assert not resent_across(
        [_copy(KILLED - timedelta(seconds=2)), _copy(KILLED - timedelta(seconds=1))], KILLED
    )
    assert not resent_across(
        [_copy(KILLED + timedelta(seconds=1)), _copy(KILLED + timedelta(seconds=8))], KILLED
    )


def test_a_resend_must_collapse_into_the_first_copy_on_the_phone() -> None:
    before, after = KILLED - timedelta(seconds=1), KILLED + timedelta(seconds=7)

    assert not resent_across([_copy(before, "n-1"), _copy(after, "n-2")], KILLED)
    assert not resent_across([_copy(before, None), _copy(after, None)], KILLED)
    assert not resent_across([_copy(before), _copy(after, title="Other")], KILLED)


def test_three_copies_are_never_one_resend() -> None:
    copies = [_copy(KILLED - timedelta(seconds=1)), _copy(KILLED + timedelta(seconds=7))] * 2

    assert not resent_across(copies[:3], KILLED)
