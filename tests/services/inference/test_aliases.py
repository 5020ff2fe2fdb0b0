"""Aliases: promote and roll back by moving one; list versions; every path scoped to the owner."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import numpy as np

from services.inference.app import create_app
from services.inference.context import InferenceContext
from tests.support.apps import running_app
from tests.support.inference_api import ALICE, BOB, InferenceApi, inference_settings
from tests.support.onnx_models import TrainedModel, to_matrix


async def _two_versions(api: InferenceApi, first: TrainedModel, second: TrainedModel) -> str:
    one = await api.register(ALICE, first, "churn")
    two = await api.register(ALICE, second, "churn")
    assert one.status_code == two.status_code == 201, two.text
    model_id: str = one.json()["model_id"]
    return model_id


async def test_moving_an_alias_promotes_and_rolls_back(
    api: InferenceApi, classifier: TrainedModel, classifier_v2: TrainedModel
) -> None:
    model_id = await _two_versions(api, classifier, classifier_v2)
    rows = classifier.held_out[:3]

    promoted = await api.set_alias(ALICE, model_id, "production", 2)
    after_promote = (await api.predict(ALICE, model_id, rows)).json()
    staged = await api.set_alias(ALICE, model_id, "staging", 1)
    rolled_back = await api.set_alias(ALICE, model_id, "production", 1)
    after_rollback = (await api.predict(ALICE, model_id, rows)).json()
    by_staging = (await api.predict(ALICE, model_id, rows, alias="staging")).json()

    assert promoted.status_code == 200, promoted.text
    assert promoted.json()["aliases"] == {"production": 2}
    assert after_promote["version"] == 2
    assert staged.json()["aliases"] == {"production": 2, "staging": 1}
    assert rolled_back.json()["aliases"] == {"production": 1, "staging": 1}
    assert after_rollback["version"] == 1 and by_staging["version"] == 1
    model = (await api.get(ALICE, f"/models/{model_id}")).json()
    assert model["aliases"] == {"production": 1, "staging": 1}


async def test_a_deleted_alias_answers_404_and_the_default_falls_back(
    api: InferenceApi, classifier: TrainedModel, classifier_v2: TrainedModel
) -> None:
    model_id = await _two_versions(api, classifier, classifier_v2)
    rows = classifier.held_out[:1]

    deleted = await api.delete_alias(ALICE, model_id, "production")
    again = await api.delete_alias(ALICE, model_id, "production")
    by_alias = await api.predict(ALICE, model_id, rows, alias="production")
    default = await api.predict(ALICE, model_id, rows)

    assert deleted.status_code == 204
    assert again.status_code == 404
    assert again.json()["error"]["code"] == "MODEL_ALIAS_NOT_FOUND"
    assert by_alias.status_code == 404
    assert default.json()["version"] == 2  # no production alias: the latest version


async def test_bad_alias_moves_are_refused(
    api: InferenceApi, classifier: TrainedModel, classifier_v2: TrainedModel
) -> None:
    model_id = await _two_versions(api, classifier, classifier_v2)

    bad_name = await api.set_alias(ALICE, model_id, "Prod!", 1)
    bad_version = await api.set_alias(ALICE, model_id, "production", 0)
    unknown_version = await api.set_alias(ALICE, model_id, "production", 9)
    not_owner = await api.set_alias(BOB, model_id, "production", 2)
    not_owner_delete = await api.delete_alias(BOB, model_id, "production")

    assert bad_name.status_code == 422
    assert bad_version.status_code == 422
    assert bad_version.json()["error"]["code"] == "VALIDATION_FAILED"
    assert unknown_version.status_code == 404
    assert unknown_version.json()["error"]["code"] == "MODEL_VERSION_NOT_FOUND"
    assert not_owner.status_code == 404 and not_owner_delete.status_code == 404
    model = (await api.get(ALICE, f"/models/{model_id}")).json()
    assert model["aliases"] == {"production": 1}


async def test_versions_are_listed_newest_first_a_page_at_a_time(
    api: InferenceApi, classifier: TrainedModel, classifier_v2: TrainedModel
) -> None:
    model_id = await _two_versions(api, classifier, classifier_v2)
    await api.register(ALICE, classifier, "churn", metrics={"accuracy": 0.8})

    first = (await api.get(ALICE, f"/models/{model_id}/versions", limit=2)).json()
    second = (
        await api.get(ALICE, f"/models/{model_id}/versions", limit=2, cursor=first["next_cursor"])
    ).json()
    bad_cursor = await api.get(ALICE, f"/models/{model_id}/versions", cursor="nope")
    bobs = await api.get(BOB, f"/models/{model_id}/versions")

    assert [v["version"] for v in first["items"]] == [3, 2]
    assert first["items"][0]["metrics"] == {"accuracy": 0.8}
    assert [v["version"] for v in second["items"]] == [1]
    assert second["next_cursor"] is None
    assert bad_cursor.status_code == 400
    assert bobs.status_code == 404


async def test_promoting_loads_the_new_version_before_any_request_asks(
    tmp_path: Path, classifier: TrainedModel, classifier_v2: TrainedModel
) -> None:
    app = create_app(inference_settings(tmp_path))
    async with running_app(app) as client:
        api = InferenceApi(client)
        model_id = await _two_versions(api, classifier, classifier_v2)
        context: InferenceContext = app.state.context
        key = (uuid.UUID(model_id), 2)

        await api.set_alias(ALICE, model_id, "production", 2)
        for _ in range(500):
            if key in context.cache:
                break
            await asyncio.sleep(0.01)

        assert key in context.cache


async def test_promoting_during_a_stream_of_requests_loses_none(
    tmp_path: Path, classifier: TrainedModel, classifier_v2: TrainedModel
) -> None:
    # No prediction cache: every request really runs a model while the alias moves.
    app = create_app(inference_settings(tmp_path, prediction_cache_enabled=False))
    async with running_app(app) as client:
        api = InferenceApi(client)
        model_id = await _two_versions(api, classifier, classifier_v2)
        rows = classifier.held_out
        phase = 0  # 0: production=1, 1: production=2 (promoted), 2: production=1 (rolled back)
        results: list[tuple[int, int, int, int, dict]] = []  # phase at start/end, row, status, body
        done = asyncio.Event()

        async def client_stream(worker: int) -> None:
            i = 0
            while not done.is_set():
                index = (worker * 25 + i) % len(rows)
                i += 1
                started = phase
                response = await api.predict(ALICE, model_id, [rows[index]])
                results.append((started, phase, index, response.status_code, response.json()))

        async def answered_in(wanted: int, count: int) -> None:
            # Requests keep flowing while the alias moves; count those begun and ended in a phase.
            deadline = asyncio.get_running_loop().time() + 30
            while sum(1 for start, end, *_ in results if start == end == wanted) < count:
                assert asyncio.get_running_loop().time() < deadline, f"phase {wanted} stalled"
                await asyncio.sleep(0.001)

        async def operator() -> None:
            nonlocal phase
            await answered_in(0, 60)
            assert (await api.set_alias(ALICE, model_id, "production", 2)).status_code == 200
            phase = 1
            await answered_in(1, 60)
            assert (await api.set_alias(ALICE, model_id, "production", 1)).status_code == 200
            phase = 2
            await answered_in(2, 20)
            done.set()

        await asyncio.gather(operator(), *(client_stream(w) for w in range(8)))

    assert [status for _, _, _, status, _ in results] == [200] * len(results)
    expected = {
        1: classifier.pipeline.predict_proba(to_matrix(rows, classifier.features)),
        2: classifier_v2.pipeline.predict_proba(to_matrix(rows, classifier_v2.features)),
    }
    version_of_phase = {0: 1, 1: 2, 2: 1}
    for started, ended, index, _, body in results:
        version = body["version"]
        if started == ended:
            assert version == version_of_phase[started]
        probabilities = body["predictions"][0]["probabilities"]
        got = [probabilities[c] for c in classifier.classes or []]
        np.testing.assert_allclose(got, expected[version][index], atol=1e-5)
    assert {body["version"] for *_, body in results} == {1, 2}


async def test_writes_show_up_at_once_even_after_the_target_was_served(
    api: InferenceApi, classifier: TrainedModel, classifier_v2: TrainedModel
) -> None:
    rows = classifier.held_out[:1]
    one = await api.register(ALICE, classifier, "churn")
    model_id = one.json()["model_id"]
    served = await api.predict(ALICE, model_id, rows)  # production=1, latest=1 now in memory

    await api.register(ALICE, classifier_v2, "churn")
    explicit = await api.predict(ALICE, model_id, rows, version=2)
    await api.set_alias(ALICE, model_id, "canary", 2)
    canary = await api.predict(ALICE, model_id, rows, alias="canary")
    await api.delete_alias(ALICE, model_id, "canary")
    gone = await api.predict(ALICE, model_id, rows, alias="canary")

    assert served.json()["version"] == 1
    assert explicit.status_code == 200 and explicit.json()["version"] == 2
    assert canary.status_code == 200 and canary.json()["version"] == 2
    assert gone.status_code == 404


async def test_a_promote_on_another_replica_shows_up_within_the_ttl(
    tmp_path: Path, classifier: TrainedModel, classifier_v2: TrainedModel
) -> None:
    # Two replicas over one database and artifact store; each keeps targets for 0.2 s.
    settings = inference_settings(tmp_path, serving_target_ttl_s=0.2)
    async with (
        running_app(create_app(settings)) as client_a,
        running_app(create_app(settings)) as client_b,
    ):
        replica_a, replica_b = InferenceApi(client_a), InferenceApi(client_b)
        model_id = await _two_versions(replica_a, classifier, classifier_v2)
        rows = classifier.held_out[:1]
        before = (await replica_b.predict(ALICE, model_id, rows)).json()

        assert (await replica_a.set_alias(ALICE, model_id, "production", 2)).status_code == 200
        promoted_at = asyncio.get_running_loop().time()
        while (await replica_b.predict(ALICE, model_id, rows)).json()["version"] != 2:
            assert asyncio.get_running_loop().time() - promoted_at < 5
            await asyncio.sleep(0.02)

    assert before["version"] == 1
