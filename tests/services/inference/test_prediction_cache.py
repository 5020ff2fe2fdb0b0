"""The prediction cache: keyed by exact version and rows; L2 answers when L1 forgot."""

from __future__ import annotations

import uuid

from proto.inference import Prediction
from services.inference.prediction_cache import PredictionCache, prediction_key
from services.kit.cache import MemoryCache

MODEL = uuid.uuid4()
ROWS = [{"age": 30.0, "city": "paris"}]
ANSWER = [Prediction(label="yes", probabilities={"no": 0.25, "yes": 0.75}, confidence=0.75)]


def test_the_key_depends_on_the_exact_version_and_rows_not_on_key_order() -> None:
    key = prediction_key(MODEL, 1, ROWS)

    assert key == prediction_key(MODEL, 1, [{"city": "paris", "age": 30.0}])
    assert key != prediction_key(MODEL, 2, ROWS)
    assert key != prediction_key(uuid.uuid4(), 1, ROWS)
    assert key != prediction_key(MODEL, 1, [{"age": 31.0, "city": "paris"}])


async def test_an_answer_comes_back_from_the_local_cache() -> None:
    cache = PredictionCache(entries=10, ttl_s=60, max_value_bytes=10_000)
    key = prediction_key(MODEL, 1, ROWS)

    assert await cache.get(key) is None
    await cache.put(key, ANSWER)

    assert await cache.get(key) == ANSWER
    assert (cache.hits, cache.misses) == (1, 1)


async def test_the_shared_cache_answers_what_another_process_computed() -> None:
    shared = MemoryCache()
    writer = PredictionCache(entries=10, ttl_s=60, max_value_bytes=10_000, shared=shared)
    reader = PredictionCache(entries=10, ttl_s=60, max_value_bytes=10_000, shared=shared)
    key = prediction_key(MODEL, 1, ROWS)

    await writer.put(key, ANSWER)

    assert await reader.get(key) == ANSWER


async def test_answers_over_the_size_limit_are_not_kept() -> None:
    cache = PredictionCache(entries=10, ttl_s=60, max_value_bytes=10)
    key = prediction_key(MODEL, 1, ROWS)

    await cache.put(key, ANSWER)

    assert await cache.get(key) is None


class _BrokenCache(MemoryCache):
    async def get(self, key: str) -> bytes | None:
        raise ConnectionError("redis is down")

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        raise ConnectionError("redis is down")


async def test_a_shared_cache_outage_is_a_miss_not_an_error() -> None:
    cache = PredictionCache(entries=10, ttl_s=60, max_value_bytes=10_000, shared=_BrokenCache())
    key = prediction_key(MODEL, 1, ROWS)

    assert await cache.get(key) is None
    await cache.put(key, ANSWER)
    assert await cache.get(key) == ANSWER
