"""Relations a phone follows (job -> dataset, version, model; model -> versions, the job that
trained it; dataset -> versions, labels, stats) and `node(id:)`, against the real services on
loopback. Downstream calls are counted at the BFF's service clients."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bff.graphql.types.node import to_global_id
from services.kit.database import Database
from services.kit.http_client import ServiceClient
from tests.bff.graphql.mutation_stack import Phone, Stack, serving_stack
from tests.support.bff_accounts import bearer
from tests.support.onnx_models import TrainedModel, train_classifier
from tests.support.training_setup import new_job

JOBS = 50


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with serving_stack(tmp_path) as running:
        yield running


@pytest.fixture
async def ada(stack: Stack) -> Phone:
    return await stack.phone()


@pytest.fixture(scope="module")
def trained() -> TrainedModel:
    return train_classifier()


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[tuple[str, str]]]:
    """(service, path) of every call a ServiceClient makes while the test runs, but the
    pokes that earlier writes send in the background (no query makes them)."""
    counted: Counter[tuple[str, str]] = Counter()
    send = ServiceClient.request

    async def counting(self: ServiceClient, method: str, path: str, **kwargs: Any) -> Any:
        if not path.endswith("/pokes"):
            counted[self.service, f"{method} {path}"] += 1
        return await send(self, method, path, **kwargs)

    monkeypatch.setattr(ServiceClient, "request", counting)
    yield counted


async def _add_jobs(tmp_path: Path, jobs: list[Any]) -> None:
    # Succeeded jobs straight into the training service's database (its worker is off).
    db = Database(f"sqlite+aiosqlite:///{(tmp_path / 'training' / 'training.db').resolve()}")
    try:
        async with db.transaction() as session:
            session.add_all(jobs)
    finally:
        await db.dispose()


async def _data(phone: Phone, query: str, **variables: Any) -> dict[str, Any]:
    response = await phone.post(query, variables)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body["errors"]
    data: dict[str, Any] = body["data"]
    return data


JOBS_WITH_RELATIONS = """
{ viewer { trainingJobs(first: 50) {
    items { id dataset { id name } trainingData { version rowCount }
            trainedModel { id name } trainedModelVersion { version } }
    pageInfo { hasNextPage endCursor } } } }
"""


async def test_fifty_jobs_with_datasets_and_models_cost_one_call_per_service(
    tmp_path: Path,
    ada: Phone,
    trained: TrainedModel,
    calls: Counter[tuple[str, str]],
) -> None:
    datasets = [await ada.dataset() for _ in range(3)]
    models = [(await ada.model(trained, f"model-{n}"))["model_id"] for n in range(2)]
    jobs = [
        new_job(
            owner_id=ada.user_id,
            status="succeeded",
            dataset_id=uuid.UUID(datasets[n % 3]["dataset_id"]),
            model_id=uuid.UUID(models[n % 2]),
            model_version=1,
        )
        for n in range(JOBS)
    ]
    await _add_jobs(tmp_path, jobs)
    calls.clear()

    data = await _data(ada, JOBS_WITH_RELATIONS)

    page = data["viewer"]["trainingJobs"]
    assert len(page["items"]) == JOBS
    assert page["pageInfo"] == {"hasNextPage": False, "endCursor": None}
    by_dataset = {d["dataset_id"]: d for d in datasets}
    for item in page["items"]:
        assert item["dataset"]["id"] in by_dataset
        assert item["trainingData"] == {"version": 1, "rowCount": 40}
        assert item["trainedModel"]["id"] in models
        assert item["trainedModelVersion"] == {"version": 1}
    assert sorted(calls.elements()) == sorted(
        [
            ("training", "GET /internal/v1/jobs"),
            ("datasets", "POST /internal/v1/datasets/batch"),
            ("datasets", "POST /internal/v1/datasets/versions/batch"),
            ("inference", "POST /internal/v1/models/batch"),
            ("inference", "POST /internal/v1/models/versions/batch"),
        ]
    )


async def test_a_model_leads_to_its_versions_aliases_and_the_job_that_trained_it(
    tmp_path: Path, ada: Phone, trained: TrainedModel
) -> None:
    dataset = await ada.dataset()
    job = new_job(owner_id=ada.user_id, status="succeeded")
    await _add_jobs(tmp_path, [job])
    registered = await ada.stack.inference.register(
        ada.user_id,
        trained,
        "churn",
        training_job_id=str(job.id),
        dataset_id=dataset["dataset_id"],
        dataset_version=1,
    )
    assert registered.status_code == 201, registered.text
    model_id = registered.json()["model_id"]

    data = await _data(
        ada,
        """{ viewer { models { items {
            id aliasList { name version modelVersion { version trainingJob { id } } }
            versions(first: 1) {
              items { version trainingData { datasetId } } pageInfo { hasNextPage } }
            latest { version } trainedBy { id status } } } } }""",
    )

    [model] = data["viewer"]["models"]["items"]
    assert model["id"] == model_id
    assert model["aliasList"] == [
        {
            "name": "production",
            "version": 1,
            "modelVersion": {"version": 1, "trainingJob": {"id": str(job.id)}},
        }
    ]
    assert model["versions"] == {
        "items": [{"version": 1, "trainingData": {"datasetId": dataset["dataset_id"]}}],
        "pageInfo": {"hasNextPage": False},
    }
    assert model["latest"] == {"version": 1}
    assert model["trainedBy"] == {"id": str(job.id), "status": "succeeded"}


async def test_a_dataset_leads_to_its_versions_labels_and_stats(ada: Phone) -> None:
    dataset = await ada.dataset()
    labelled = await ada.stack.client.put(
        f"/api/v1/datasets/{dataset['dataset_id']}/versions/1/labels",
        json={"labels": [{"row_id": 3, "label": "yes", "base_revision": 0}]},
        headers=bearer(ada.tokens),
    )
    assert labelled.status_code == 200, labelled.text

    data = await _data(
        ada,
        """{ viewer { datasets { items {
            versions { items { version rowCount dataset { id } } }
            labels(first: 5) { items { rowId label } nextCursor pageInfo { hasNextPage } }
            stats { rowCount columns { name type count } } } } } }""",
    )

    [item] = data["viewer"]["datasets"]["items"]
    assert item["versions"]["items"] == [
        {"version": 1, "rowCount": 40, "dataset": {"id": dataset["dataset_id"]}}
    ]
    assert item["labels"]["items"] == [{"rowId": 3, "label": "yes"}]
    assert item["labels"]["pageInfo"] == {"hasNextPage": False}
    assert item["stats"]["rowCount"] == 40
    assert {column["name"] for column in item["stats"]["columns"]} >= {"age", "spend"}


NODE = """query($id: ID!) { node(id: $id) { __typename globalId
    ... on Dataset { id name } ... on DatasetVersion { datasetId version } } }"""


async def test_node_fetches_again_what_a_global_id_names(ada: Phone) -> None:
    dataset = await ada.dataset()
    listed = await _data(ada, "{ viewer { globalId datasets { items { globalId } } } }")
    global_id = listed["viewer"]["datasets"]["items"][0]["globalId"]

    again = await _data(ada, NODE, id=global_id)
    version = await _data(
        ada, NODE, id=to_global_id("DatasetVersion", f"{dataset['dataset_id']}:1")
    )
    viewer = await _data(
        ada,
        "query($id: ID!) { node(id: $id) { ... on Viewer { email } } }",
        id=listed["viewer"]["globalId"],
    )

    assert global_id == to_global_id("Dataset", dataset["dataset_id"])
    assert again["node"] == {
        "__typename": "Dataset",
        "globalId": global_id,
        "id": dataset["dataset_id"],
        "name": "data",
    }
    assert version["node"]["version"] == 1
    assert viewer["node"] == {"email": "ada@example.com"}


async def test_another_users_object_is_null_with_not_found(stack: Stack, ada: Phone) -> None:
    bob = await stack.phone("bob@example.com", "bobs-phone")
    bobs = await bob.dataset()

    response = await ada.post(NODE, {"id": to_global_id("Dataset", bobs["dataset_id"])})
    garbled = await ada.post(NODE, {"id": "not-a-global-id"})

    body = response.json()
    assert body["data"] == {"node": None}
    assert body["errors"][0]["extensions"]["code"] == "DATASET_NOT_FOUND"
    assert body["errors"][0]["path"] == ["node"]
    assert garbled.json()["errors"][0]["extensions"]["code"] == "INVALID_ID"


async def test_each_operation_on_one_websocket_loads_afresh(stack: Stack, ada: Phone) -> None:
    # Over a WebSocket one context serves every operation of the connection: what the first
    # operation loaded must not answer the second, after a change in between.
    dataset = await ada.dataset()
    global_id = to_global_id("Dataset", dataset["dataset_id"])
    url = str(stack.client.base_url).replace("http", "ws", 1) + "/graphql"
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(url, protocols=("graphql-transport-ws",)) as ws,
    ):
        await ws.send_json({"type": "connection_init", "payload": bearer(ada.tokens)})
        assert (await ws.receive_json(timeout=10))["type"] == "connection_ack"

        async def node() -> dict[str, Any]:
            op_id = uuid.uuid4().hex
            payload = {"query": NODE, "variables": {"id": global_id}}
            await ws.send_json({"id": op_id, "type": "subscribe", "payload": payload})
            answer: dict[str, Any] = await ws.receive_json(timeout=10)
            assert await ws.receive_json(timeout=10) == {"id": op_id, "type": "complete"}
            return answer

        first = await node()
        deleted = await ada.mutate(
            "mutation($id: ID!) { deleteDataset(input: {datasetId: $id}) { deletedDatasetId } }",
            id=dataset["dataset_id"],
        )
        second = await node()

    assert first["payload"]["data"]["node"]["name"] == "data"
    assert deleted["deleteDataset"]["deletedDatasetId"] == dataset["dataset_id"]
    assert second["payload"]["data"] == {"node": None}
    assert second["payload"]["errors"][0]["extensions"]["code"] == "DATASET_NOT_FOUND"
