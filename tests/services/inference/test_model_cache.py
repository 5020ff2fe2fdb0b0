"""The LRU of loaded models: bounded, most recently used kept, one load per key at a time."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from services.inference.model_cache import LoadedModel, ModelCache
from services.inference.onnx_artifacts import open_session, output_names
from tests.support.onnx_models import TrainedModel, train_regressor


@pytest.fixture(scope="module")
def regressor() -> TrainedModel:
    return train_regressor()


def _loaded(model: TrainedModel, version: int) -> LoadedModel:
    session = open_session(model.onnx_bytes, 1)
    return LoadedModel(
        model_id=uuid.uuid4(),
        version=version,
        task="regression",
        features=(),
        classes=None,
        session=session,
        outputs=output_names(session, "regression"),
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
