"""The LRU of loaded models: bounded, most recently used kept, one load per key at a time."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from proto.inference import FeatureSpec
from services.inference.model_cache import LoadedModel, ModelCache
from services.inference.onnx_artifacts import onnx_runner
from tests.support.onnx_models import TrainedModel, train_regressor


@pytest.fixture(scope="module")
def regressor() -> TrainedModel:
    return train_regressor()


def _loaded(model: TrainedModel, version: int, memory_bytes: int = 0) -> LoadedModel:
    features = tuple(FeatureSpec.model_validate(spec) for spec in model.feature_specs())
    return LoadedModel(
        model_id=uuid.uuid4(),
        version=version,
        task="regression",
        features=features,
        classes=None,
        runner=onnx_runner(model.onnx_bytes, "regression", features, 1),
        memory_bytes=memory_bytes,
    )


async def test_least_recently_used_is_evicted(regressor: TrainedModel) -> None:
    cache = ModelCache(max_models=2)
    model_id = uuid.uuid4()
    loads: list[int] = []

    async def get(version: int) -> LoadedModel:
        async def load() -> LoadedModel:
            loads.append(version)
            return _loaded(regressor, version)

        return await cache.get((model_id, version), load)

    await get(1)
    await get(2)
    await get(1)  # 1 is now the most recently used
    await get(3)  # evicts 2

    assert (model_id, 1) in cache and (model_id, 3) in cache
    assert (model_id, 2) not in cache
    await get(2)
    assert loads == [1, 2, 3, 2]
    assert len(cache) == 2


async def test_concurrent_requests_share_one_load(regressor: TrainedModel) -> None:
    cache = ModelCache(max_models=2)
    key = (uuid.uuid4(), 1)
    calls = 0
    release = asyncio.Event()

    async def load() -> LoadedModel:
        nonlocal calls
        calls += 1
        await release.wait()
        return _loaded(regressor, 1)

    waiters = [asyncio.create_task(cache.get(key, load)) for _ in range(5)]
    await asyncio.sleep(0)
    release.set()
    results = await asyncio.gather(*waiters)

    assert calls == 1
    assert all(result is results[0] for result in results)


async def test_a_failed_load_is_not_cached(regressor: TrainedModel) -> None:
    cache = ModelCache(max_models=2)
    key = (uuid.uuid4(), 1)

    async def broken() -> LoadedModel:
        raise RuntimeError("artifact unreadable")

    async def working() -> LoadedModel:
        return _loaded(regressor, 1)

    with pytest.raises(RuntimeError):
        await cache.get(key, broken)
    assert key not in cache
    assert (await cache.get(key, working)).version == 1


async def test_models_over_the_memory_budget_are_evicted_oldest_first(
    regressor: TrainedModel,
) -> None:
    cache = ModelCache(max_models=10, max_bytes=250)
    model_id = uuid.uuid4()

    async def get(version: int) -> LoadedModel:
        async def load() -> LoadedModel:
            return _loaded(regressor, version, memory_bytes=100)

        return await cache.get((model_id, version), load)

    for version in (1, 2, 3):
        await get(version)

    assert (model_id, 1) not in cache
    assert (model_id, 2) in cache and (model_id, 3) in cache
    assert cache.memory_bytes == 200


async def test_a_model_alone_over_the_budget_still_serves(regressor: TrainedModel) -> None:
    cache = ModelCache(max_models=10, max_bytes=50)
    key = (uuid.uuid4(), 1)

    async def load() -> LoadedModel:
        return _loaded(regressor, 1, memory_bytes=100)

    assert (await cache.get(key, load)).version == 1
    assert key in cache


async def test_a_held_model_keeps_working_after_eviction(regressor: TrainedModel) -> None:
    cache = ModelCache(max_models=1)
    model_id = uuid.uuid4()

    async def load_version(version: int) -> LoadedModel:
        return _loaded(regressor, version)

    held = await cache.get((model_id, 1), lambda: load_version(1))
    await cache.get((model_id, 2), lambda: load_version(2))

    assert (model_id, 1) not in cache
    labels, _ = held.runner.run([{"age": 40.0, "income": 50.0, "city": "paris"}])
    assert labels.shape == (1,)
