"""A short `make chaos` in CI: each process is SIGKILLed under load and restarted, and the
phones lose nothing and get nothing twice (on PostgreSQL and Redis when CI provides them).

A push the provider took just before notifications was killed, and that was sent again after,
is not a duplicate: sending is at-least-once, and the copy carries the same collapse id, so the
phone shows one notification (`chaos.resent_across`). Any other second copy fails the test."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import chaos

pytestmark = pytest.mark.integration


def test_killing_each_process_under_load_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    report = chaos.run(seconds_per_kill=4, workdir=tmp_path)

    print(report.summary())  # the figures, in the CI log
    assert list(report.recovery_s) == list(chaos.KILLED)
    assert report.applied_edits > 0 and report.pushes > 0  # the load did the user story
    assert report.server_errors == []
    assert report.lost == []
    assert report.duplicated == []
