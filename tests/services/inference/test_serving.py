"""Serving under load and abuse: cache across versions, batching, rate limit, size limits."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI

from services.inference.app import create_app
from services.inference.context import InferenceContext
from tests.support import backends
from tests.support.apps import running_app
from tests.support.inference_api import ALICE, BOB, InferenceApi, inference_settings
from tests.support.onnx_models import TrainedModel, to_matrix


@asynccontextmanager
async def _service(tmp_path: Path, **overrides: Any) -> AsyncIterator[tuple[InferenceApi, FastAPI]]:
    app = create_app(inference_settings(tmp_path, **overrides))
    async with running_app(app) as client:
        yield InferenceApi(client), app


def _probabilities(body: dict[str, Any], classes: list[str] | None) -> np.ndarray:
    return np.array([[p["probabilities"][c] for c in classes or []] for p in body["predictions"]])


async def test_the_cache_never_answers_for_another_version(
    tmp_path: Path, classifier: TrainedModel, classifier_v2: TrainedModel
) -> None:
    rows = classifier.held_out[:5]
    x = to_matrix(rows, classifier.features)
    v1_expected = classifier.pipeline.predict_proba(x)
    v2_expected = classifier_v2.pipeline.predict_proba(x)
    assert not np.allclose(v1_expected, v2_expected, atol=1e-3)
    async with _service(tmp_path) as (api, app):
        context: InferenceContext = app.state.context
        model_id = (await api.register(ALICE, classifier, "churn")).json()["model_id"]
        await api.register(ALICE, classifier_v2, "churn")

        first = (await api.predict(ALICE, model_id, rows)).json()
        hits_before = context.predictions.hits
        repeated = (await api.predict(ALICE, model_id, rows)).json()
        assert context.predictions.hits == hits_before + 1
        await api.set_alias(ALICE, model_id, "production", 2)
        promoted = (await api.predict(ALICE, model_id, rows)).json()
        await api.set_alias(ALICE, model_id, "production", 1)
        rolled_back = (await api.predict(ALICE, model_id, rows)).json()
        explicit_v2 = (await api.predict(ALICE, model_id, rows, version=2)).json()

    assert first == repeated
    for body, version, expected in (
        (first, 1, v1_expected),
        (promoted, 2, v2_expected),
        (rolled_back, 1, v1_expected),
        (explicit_v2, 2, v2_expected),
    ):
        assert body["version"] == version
        np.testing.assert_allclose(_probabilities(body, classifier.classes), expected, atol=1e-5)


async def test_a_new_version_serves_at_once_and_the_same_after_a_restart(
    tmp_path: Path, classifier: TrainedModel
) -> None:
    rows = classifier.held_out[:5]
    expected = classifier.pipeline.predict_proba(to_matrix(rows, classifier.features))
    async with _service(tmp_path) as (api, app):
        model_id = (await api.register(ALICE, classifier, "churn")).json()["model_id"]
        key = (uuid.UUID(model_id), 1)
        # The runner its check opened is kept: the first prediction does not open it again.
        assert key in app.state.context.cache
        first = (await api.predict(ALICE, model_id, rows)).json()
    async with _service(tmp_path) as (api, app):
        assert key not in app.state.context.cache
        # A restarted replica opens the version from its stored artifact.
        restarted = (await api.predict(ALICE, model_id, rows)).json()
        assert key in app.state.context.cache

    for body in (first, restarted):
        np.testing.assert_allclose(_probabilities(body, classifier.classes), expected, atol=1e-5)
    assert first["predictions"] == restarted["predictions"]


async def test_another_user_never_gets_a_cached_answer(
    api: InferenceApi, classifier: TrainedModel
) -> None:
    model_id = (await api.register(ALICE, classifier, "churn")).json()["model_id"]
    rows = classifier.held_out[:2]
    assert (await api.predict(ALICE, model_id, rows)).status_code == 200

    response = await api.predict(BOB, model_id, rows)

    assert response.status_code == 404


async def test_concurrent_single_row_requests_are_batched_and_each_gets_its_own_answer(
    tmp_path: Path, classifier: TrainedModel
) -> None:
    rows = classifier.held_out
    async with _service(tmp_path, prediction_cache_enabled=False, batch_max_wait_ms=5) as (
        api,
        _app,
    ):
        model_id = (await api.register(ALICE, classifier, "churn")).json()["model_id"]
        responses = await asyncio.gather(*(api.predict(ALICE, model_id, [row]) for row in rows))

    assert all(r.status_code == 200 for r in responses)
    got = np.vstack([_probabilities(r.json(), classifier.classes) for r in responses])
    expected = classifier.pipeline.predict_proba(to_matrix(rows, classifier.features))
    np.testing.assert_allclose(got, expected, atol=1e-5)
    labels = [r.json()["predictions"][0]["label"] for r in responses]
    assert labels == list(classifier.pipeline.predict(to_matrix(rows, classifier.features)))


async def test_without_batching_predictions_are_the_same(
    tmp_path: Path, classifier: TrainedModel
) -> None:
    rows = classifier.held_out[:10]
    async with _service(tmp_path, batching_enabled=False, prediction_cache_enabled=False) as (
        api,
        _app,
    ):
        model_id = (await api.register(ALICE, classifier, "churn")).json()["model_id"]
        responses = await asyncio.gather(*(api.predict(ALICE, model_id, [row]) for row in rows))

    got = np.vstack([_probabilities(r.json(), classifier.classes) for r in responses])
    expected = classifier.pipeline.predict_proba(to_matrix(rows, classifier.features))
    np.testing.assert_allclose(got, expected, atol=1e-5)


async def test_predict_is_rate_limited_per_user_with_retry_after(
    tmp_path: Path, classifier: TrainedModel
) -> None:
    async with _service(tmp_path, predict_rate_limit=2, predict_rate_window_s=30) as (api, _app):
        alice_model = (await api.register(ALICE, classifier, "churn")).json()["model_id"]
        bob_model = (await api.register(BOB, classifier, "churn")).json()["model_id"]
        rows = classifier.held_out[:1]

        allowed = [await api.predict(ALICE, alice_model, rows) for _ in range(2)]
        limited = await api.predict(ALICE, alice_model, rows)
        bob = await api.predict(BOB, bob_model, rows)

    assert [r.status_code for r in allowed] == [200, 200]
    assert limited.status_code == 429
    error = limited.json()["error"]
    assert error["code"] == "RATE_LIMITED"
    assert error["action"] == "retry"
    assert error["retry"]["allowed"] is True
    assert 1 <= error["retry"]["after_seconds"] <= 30
    assert limited.headers["retry-after"] == str(error["retry"]["after_seconds"])
    assert bob.status_code == 200


async def test_too_many_rows_or_too_large_a_body_is_refused(
    tmp_path: Path, classifier: TrainedModel
) -> None:
    async with _service(tmp_path, max_predict_rows=3, max_predict_body_bytes=4096) as (api, _app):
        model_id = (await api.register(ALICE, classifier, "churn")).json()["model_id"]

        too_many = await api.predict(ALICE, model_id, classifier.held_out[:4])
        too_large = await api.predict(
            ALICE, model_id, [{"age": 1.0, "income": 2.0, "city": "x" * 5000}]
        )
        fine = await api.predict(ALICE, model_id, classifier.held_out[:3])

    assert too_many.status_code == 422
    assert too_many.json()["error"]["code"] == "TOO_MANY_ROWS"
    assert too_large.status_code == 413
    assert too_large.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert fine.status_code == 200


async def test_an_overlong_string_value_is_a_bad_row(
    tmp_path: Path, classifier: TrainedModel
) -> None:
    async with _service(tmp_path, max_string_value_chars=8) as (api, _app):
        model_id = (await api.register(ALICE, classifier, "churn")).json()["model_id"]

        response = await api.predict(
            ALICE, model_id, [{"age": 1.0, "income": 2.0, "city": "x" * 9}]
        )

    assert response.status_code == 422
    assert "longer than 8 characters" in response.json()["error"]["message"]


async def test_an_alias_with_bad_characters_is_refused(
    api: InferenceApi, classifier: TrainedModel
) -> None:
    model_id = (await api.register(ALICE, classifier, "churn")).json()["model_id"]

    response = await api.predict(ALICE, model_id, classifier.held_out[:1], alias="../prod")

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "VALIDATION_FAILED"


@pytest.mark.skipif(not backends.redis_admin_url(), reason="TEST_REDIS_URL not set")
async def test_replicas_share_answers_through_redis(
    tmp_path: Path, classifier: TrainedModel
) -> None:
    redis_url = backends.claim_redis_database(backends.redis_admin_url() or "")
    shared_db = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    rows = classifier.held_out[:3]
    try:
        async with _service(tmp_path / "a", redis_url=redis_url, database_url=shared_db) as (
            replica_a,
            _,
        ):
            model_id = (await replica_a.register(ALICE, classifier, "churn")).json()["model_id"]
            first = await replica_a.predict(ALICE, model_id, rows)
        async with _service(tmp_path / "b", redis_url=redis_url, database_url=shared_db) as (
            replica_b,
            app_b,
        ):
            second = await replica_b.predict(ALICE, model_id, rows)
            context: InferenceContext = app_b.state.context
            assert context.predictions.hits == 1
            assert len(context.cache) == 0  # answered without loading the model
    finally:
        backends.flush_redis_database(redis_url)

    assert second.json() == first.json()
