"""The time of day, as every process reads it: timezone-aware UTC.

Code that waits for time to pass takes a clock (`Clock`) so tests can move it instead of
sleeping.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """Now, timezone-aware UTC."""
    return datetime.now(UTC)
