"""A small circuit breaker for one downstream service.

Hand-written on purpose: the asyncio breaker libraries on PyPI are unmaintained, and the
state machine is a few lines. Closed -> (N consecutive failures) -> open -> (open period)
-> half-open: one trial call closes it again or re-opens it. The first open period is short
(a restarted service is back in use a second after it answers) and doubles with each failed
trial up to `reset_timeout_s` (a service that stays down is tried only that often).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Fails fast while a downstream keeps failing, then lets one trial call through."""

    def __init__(
        self,
        failure_threshold: int = 5,
        reset_timeout_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        first_open_s: float = 1.0,
    ) -> None:
        self._threshold = failure_threshold
        self._reset_timeout_s = reset_timeout_s
        self._first_open_s = min(first_open_s, reset_timeout_s)
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._open_s = self._first_open_s  # how long this opening lasts
        self._trial_in_flight = False

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self._opened_at >= self._open_s:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def retry_after_s(self) -> float:
        """Seconds until a trial call will be allowed (0 when calls are allowed now)."""
        if self._opened_at is None:
            return 0.0
        return max(0.0, self._open_s - (self._clock() - self._opened_at))

    def allow(self) -> bool:
        """Whether a call may go out now; in half-open only one trial at a time."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and not self._trial_in_flight:
            self._trial_in_flight = True
            return True
        return False

    def record_success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._open_s = self._first_open_s
        self._trial_in_flight = False

    def release_trial(self) -> None:
        """A call ended without an outcome (cancelled): the next one may be the trial."""
        self._trial_in_flight = False

    def record_failure(self) -> None:
        self._trial_in_flight = False
        self._failures += 1
        if self._opened_at is not None:  # a failed trial (or a call from before it opened)
            if self.state is BreakerState.HALF_OPEN:
                self._open_s = min(self._reset_timeout_s, self._open_s * 2)
            self._opened_at = self._clock()
        elif self._failures >= self._threshold:
            self._opened_at = self._clock()
