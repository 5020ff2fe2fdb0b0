"""Two inference replicas on one database, one S3-compatible store and one version bus (Redis):
a version registered through one serves from the other, and registry changes reach both."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from services.inference.app import create_app
from services.inference.settings import InferenceSettings
from tests.support.inference_api import ALICE, InferenceApi, inference_settings
from tests.support.object_store import S3Server, s3_server
from tests.support.onnx_models import TrainedModel, to_matrix
from tests.support.redis_server import redis_url
from tests.support.servers import serve_app

__all__ = ["redis_url", "s3_server"]


@asynccontextmanager
async def _replica(settings: InferenceSettings) -> AsyncIterator[InferenceApi]:
    """One replica served on its own loopback port, and a client of it."""
    async with (
        serve_app(create_app(settings)) as url,
        httpx.AsyncClient(base_url=url, timeout=10) as client,
    ):
        yield InferenceApi(client)


async def _serves(api: InferenceApi, model_id: str, rows: list[Any], version: int) -> bool:
    """Whether predict comes to answer `version` within two seconds (a bus event's way)."""
    for _ in range(40):
        answer = await api.predict(ALICE, model_id, rows)
        assert answer.status_code == 200, answer.text
        if answer.json()["version"] == version:
            return True
        await asyncio.sleep(0.05)
    return False


async def test_a_model_registered_on_one_replica_serves_from_another(
    s3_server: S3Server,
    redis_url: str,
    tmp_path: Path,
    classifier: TrainedModel,
    classifier_v2: TrainedModel,
) -> None:
    shared = {
        **s3_server.settings(),
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'inference.db'}",
        "redis_url": redis_url,
        # Longer than the test: only the bus can tell a replica what changed elsewhere.
        "serving_target_ttl_s": 600.0,
    }
    first = inference_settings(tmp_path / "replica-1", **shared)
    second = inference_settings(tmp_path / "replica-2", **shared)
    rows = classifier.held_out[:3]

    async with _replica(first) as one, _replica(second) as two:
        registered = await one.register(ALICE, classifier, "churn")
        assert registered.status_code == 201, registered.text
        model_id = registered.json()["model_id"]
        from_second = await two.predict(ALICE, model_id, rows)  # loaded from the store
        again = await one.register(ALICE, classifier_v2, "churn")
        assert again.status_code == 201, again.text

        # The first version went to production; the replica that did not promote serves the
        # new one as soon as it hears of it, and the same the other way round.
        promoted = await one.set_alias(ALICE, model_id, "production", 2)
        second_sees_v2 = await _serves(two, model_id, rows, 2)
        rolled_back = await two.set_alias(ALICE, model_id, "production", 1)
        first_sees_v1 = await _serves(one, model_id, rows, 1)
        ready = await two.client.get("/ready")

    assert from_second.status_code == 200, from_second.text
    assert from_second.json()["version"] == 1
    assert [p["label"] for p in from_second.json()["predictions"]] == list(
        classifier.pipeline.predict(to_matrix(rows, classifier.features))
    )
    assert promoted.status_code == rolled_back.status_code == 200, rolled_back.text
    assert second_sees_v2, "the second replica did not hear of the promotion"
    assert first_sees_v1, "the first replica did not hear of the roll-back"
    assert ready.json()["checks"]["store"] == "ok"
    # The artifacts are in the bucket, not in either replica's folder.
    assert not (second.service_dir / "artifacts").exists()
    assert not (first.service_dir / "artifacts").exists()
