from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from services.kit.cache import Cache, MemoryCache, RedisCache
from tests.support import backends


def _backends() -> list[str]:
    return ["memory", "redis"] if backends.redis_admin_url() else ["memory"]


@pytest.fixture(params=_backends())
async def cache(request: pytest.FixtureRequest) -> AsyncIterator[Cache]:
    if request.param == "memory":
        yield MemoryCache()
        return
    url = backends.claim_redis_database(backends.redis_admin_url() or "")
    redis_cache = RedisCache(url, "tern-test")
    try:
        yield redis_cache
    finally:
        await redis_cache.close()
        backends.flush_redis_database(url)


async def test_values_expire(cache: Cache) -> None:
    await cache.set("k", b"v", ttl_s=0.2)
    assert await cache.get("k") == b"v"
    await asyncio.sleep(0.3)
    assert await cache.get("k") is None


async def test_delete_and_incr(cache: Cache) -> None:
    await cache.set("k", b"v", ttl_s=10)
    await cache.delete("k")
    assert await cache.get("k") is None
    assert [await cache.incr("n", ttl_s=10) for _ in range(3)] == [1, 2, 3]


async def test_sliding_window_allows_limit_then_refuses_with_reset(cache: Cache) -> None:
    decisions = [await cache.hit("user:1", limit=3, window_s=0.5) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    assert 0 < decisions[-1].reset_after_s <= 0.5
    assert (await cache.hit("user:2", limit=3, window_s=0.5)).allowed  # keys are independent
    await asyncio.sleep(0.55)
    assert (await cache.hit("user:1", limit=3, window_s=0.5)).allowed


async def test_a_hit_refused_by_one_window_costs_nothing_in_the_others(cache: Cache) -> None:
    for _ in range(2):
        assert (await cache.hit("device:noisy", limit=2, window_s=30)).allowed

    refused = [await cache.hit_all(["user:1", "device:noisy"], 2, 30) for _ in range(5)]
    elsewhere = [await cache.hit_all(["user:1", "device:quiet"], 2, 30) for _ in range(3)]

    assert [d.allowed for d in refused] == [False] * 5
    assert all(d.remaining == 0 and 0 < d.reset_after_s <= 30 for d in refused)
    assert [(d.allowed, d.remaining) for d in elsewhere] == [(True, 1), (True, 0), (False, 0)]


async def test_hit_all_answers_for_the_tightest_window(cache: Cache) -> None:
    await cache.hit("device:a", limit=5, window_s=30)
    await cache.hit("device:a", limit=5, window_s=30)

    decision = await cache.hit_all(["user:1", "device:a", "user:1"], 5, 30)

    assert (decision.allowed, decision.limit, decision.remaining) == (True, 5, 2)
    assert (await cache.hit("user:1", limit=5, window_s=30)).remaining == 3  # counted once


async def test_slots_hold_a_limit_of_holders_and_free_on_release(cache: Cache) -> None:
    assert await cache.take_slot("user-1", "a", limit=2, lease_s=10)
    assert await cache.take_slot("user-1", "b", limit=2, lease_s=10)
    assert not await cache.take_slot("user-1", "c", limit=2, lease_s=10)
    assert await cache.take_slot("user-1", "a", limit=2, lease_s=10)  # a holder takes it again
    assert await cache.take_slot("user-2", "c", limit=2, lease_s=10)  # another key's own

    await cache.free_slot("user-1", "b")

    assert await cache.take_slot("user-1", "c", limit=2, lease_s=10)


async def test_a_slot_not_renewed_lapses_and_a_renewed_one_holds(cache: Cache) -> None:
    assert await cache.take_slot("user-1", "dead", limit=2, lease_s=0.3)
    assert await cache.take_slot("user-1", "alive", limit=2, lease_s=0.3)
    for _ in range(3):
        await asyncio.sleep(0.15)
        await cache.renew_slot("user-1", "alive", lease_s=0.3)

    assert await cache.take_slot("user-1", "new", limit=2, lease_s=0.3)  # the dead one lapsed
    assert not await cache.take_slot("user-1", "newer", limit=2, lease_s=0.3)

    await cache.renew_slot("user-1", "never-held", lease_s=10)  # renews nothing
    await cache.free_slot("user-1", "alive")
    assert await cache.take_slot("user-1", "newer", limit=2, lease_s=0.3)
