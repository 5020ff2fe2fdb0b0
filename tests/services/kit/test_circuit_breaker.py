from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.kit.circuit_breaker import BreakerState, CircuitBreaker


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_threshold_and_half_opens_after_its_first_short_period() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=3, reset_timeout_s=10, clock=clock)
    for _ in range(3):
        assert breaker.allow()
        breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow()
    assert breaker.retry_after_s() == 1
    clock.now = 1
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow()  # one trial call
    assert not breaker.allow()  # and only one
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.allow()


def test_each_failed_trial_doubles_the_wait_up_to_the_reset_timeout() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, reset_timeout_s=5, clock=clock)
    breaker.record_failure()
    waits = []
    for _ in range(5):
        waits.append(breaker.retry_after_s())
        clock.now += breaker.retry_after_s()
        assert breaker.allow()
        breaker.record_failure()
        assert breaker.state is BreakerState.OPEN
        assert not breaker.allow()
    assert waits == [1, 2, 4, 5, 5]
    # A service back up is in use after one trial, and the next opening is short again.
    clock.now += breaker.retry_after_s()
    assert breaker.allow()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.retry_after_s() == 1


def test_success_resets_the_failure_count() -> None:
    breaker = CircuitBreaker(failure_threshold=2)
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED


_STEPS = st.lists(
    st.one_of(
        st.just("call"),
        st.sampled_from(["success", "failure", "cancelled"]),
        st.floats(min_value=0, max_value=12),
    ),
    max_size=60,
)


@given(_STEPS)
def test_the_breaker_never_sticks(steps: list[str | float]) -> None:
    """Whatever calls start, end (in any way, cancellation included) and however time
    passes: once no call is in flight and `reset_timeout_s` has passed, a call may go."""
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=2, reset_timeout_s=10, clock=clock)
    in_flight = 0
    for step in steps:
        if step == "call":
            in_flight += breaker.allow()
        elif isinstance(step, float):
            clock.now += step
        elif in_flight:
            in_flight -= 1
            if step == "success":
                breaker.record_success()
            elif step == "failure":
                breaker.record_failure()
            else:
                breaker.release_trial()
    for _ in range(in_flight):  # the calls still out end without an outcome
        breaker.release_trial()
    clock.now += 10
    assert breaker.allow()
    assert breaker.retry_after_s() <= 10
