"""The idempotency store: one runner per key, kept answers, scopes and users apart, pruning."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from bff.idempotency.pruning import prune_round
from bff.idempotency.store import Claimed, IdempotencyStore, InFlight, Mismatch, Replay
from services.kit.database import Database

ANSWER = (201, (("content-type", "application/json"), ("location", "/jobs/1")), b'{"id":1}')


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = datetime(2030, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(db: Database, clock: Clock) -> IdempotencyStore:
    return IdempotencyStore(
        db, retention_s=7 * 24 * 3600, in_flight_s=60, max_body_bytes=1024, clock=clock
    )


async def claimed(store: IdempotencyStore, user: str, scope: str, key: str) -> Claimed:
    outcome = await store.claim(user, scope, key, "fp-1")
    assert isinstance(outcome, Claimed), outcome
    return outcome


async def test_a_completed_key_replays_its_answer(store: IdempotencyStore) -> None:
    claim = await claimed(store, "ada", "rest", "k1")
    assert await store.complete(claim, *ANSWER)

    replay = await store.claim("ada", "rest", "k1", "fp-1")

    assert replay == Replay(*ANSWER)


async def test_the_same_key_for_another_request_is_a_mismatch(store: IdempotencyStore) -> None:
    claim = await claimed(store, "ada", "rest", "k1")

    assert await store.claim("ada", "rest", "k1", "fp-2") == Mismatch()  # while it runs
    await store.complete(claim, *ANSWER)
    assert await store.claim("ada", "rest", "k1", "fp-2") == Mismatch()  # and after


async def test_a_running_claim_makes_the_same_request_wait(store: IdempotencyStore) -> None:
    await claimed(store, "ada", "rest", "k1")

    outcome = await store.claim("ada", "rest", "k1", "fp-1")

    assert isinstance(outcome, InFlight)
    assert outcome.retry_after_s > 0


async def test_of_racing_claims_exactly_one_runs(store: IdempotencyStore) -> None:
    outcomes = await asyncio.gather(*(store.claim("ada", "rest", "k1", "fp-1") for _ in range(8)))

    assert sum(isinstance(outcome, Claimed) for outcome in outcomes) == 1
    assert all(isinstance(o, Claimed | InFlight) for o in outcomes)


async def test_users_and_scopes_have_keys_of_their_own(store: IdempotencyStore) -> None:
    first = await claimed(store, "ada", "rest", "k1")
    await store.complete(first, *ANSWER)

    await claimed(store, "bob", "rest", "k1")
    await claimed(store, "ada", "sync:phone-1", "k1")
    await claimed(store, "ada", "sync:phone-2", "k1")
    assert await store.claim("ada", "rest", "k1", "fp-1") == Replay(*ANSWER)


async def test_a_released_key_runs_again(store: IdempotencyStore) -> None:
    claim = await claimed(store, "ada", "rest", "k1")
    await store.release(claim)

    again = await claimed(store, "ada", "rest", "k1")

    assert again.token != claim.token


async def test_an_answer_over_the_size_limit_is_not_kept_and_frees_the_key(
    store: IdempotencyStore,
) -> None:
    claim = await claimed(store, "ada", "rest", "k1")

    assert not await store.complete(claim, 200, (), b"x" * 1025)
    await claimed(store, "ada", "rest", "k1")


async def test_a_claim_whose_runner_died_is_taken_over_after_its_lease(
    store: IdempotencyStore, clock: Clock
) -> None:
    dead = await claimed(store, "ada", "rest", "k1")
    clock.advance(seconds=61)

    taker = await claimed(store, "ada", "rest", "k1")
    assert not await store.complete(dead, *ANSWER)  # the first runner settles nothing now
    assert await store.complete(taker, 200, (), b"{}")

    assert await store.claim("ada", "rest", "k1", "fp-1") == Replay(200, (), b"{}")


async def test_a_renewed_claim_is_not_taken_over_and_a_settled_one_is_not_renewed(
    store: IdempotencyStore, clock: Clock
) -> None:
    running = await claimed(store, "ada", "rest", "k1")
    clock.advance(seconds=50)
    assert await store.renew(running)
    clock.advance(seconds=50)  # 100 s after the claim, 50 s after its renewal

    assert isinstance(await store.claim("ada", "rest", "k1", "fp-1"), InFlight)
    assert await store.complete(running, *ANSWER)
    assert not await store.renew(running)
    assert isinstance(await store.claim("ada", "rest", "k1", "fp-1"), Replay)


async def test_a_request_keeps_its_key_while_it_runs_and_a_dead_one_frees_it_in_a_lease(
    db: Database,
) -> None:
    # Real time: a 1 s lease, renewed every third of it while the request runs.
    store = IdempotencyStore(db, retention_s=60, in_flight_s=1.0, max_body_bytes=1024)
    first = await claimed(store, "ada", "rest", "k1")
    async with store.holding(first):
        await asyncio.sleep(2.5)  # well past the lease
        assert isinstance(await store.claim("ada", "rest", "k1", "fp-1"), InFlight)
    # The runner is gone without settling (its BFF died): no renewal, the key frees.
    await asyncio.sleep(1.2)
    taker = await claimed(store, "ada", "rest", "k1")
    assert not await store.complete(first, *ANSWER)
    assert await store.complete(taker, 200, (), b"{}")


async def test_answers_are_kept_for_the_retention_then_the_key_is_new(
    store: IdempotencyStore, clock: Clock
) -> None:
    claim = await claimed(store, "ada", "rest", "k1")
    await store.complete(claim, *ANSWER)

    clock.advance(days=6, hours=23)
    assert await store.claim("ada", "rest", "k1", "fp-1") == Replay(*ANSWER)
    clock.advance(hours=2)
    assert isinstance(await store.claim("ada", "rest", "k1", "fp-2"), Claimed)


async def test_pruning_deletes_only_expired_records_in_bounded_batches(
    store: IdempotencyStore, clock: Clock
) -> None:
    for n in range(5):
        await store.complete(await claimed(store, "ada", "rest", f"old-{n}"), *ANSWER)
    clock.advance(days=7, seconds=1)
    kept = await claimed(store, "ada", "rest", "new")
    await store.complete(kept, *ANSWER)

    assert await store.prune(2) == 2
    assert await prune_round(store, 2) == 3
    assert await prune_round(store, 2) == 0
    assert await store.claim("ada", "rest", "new", "fp-1") == Replay(*ANSWER)
