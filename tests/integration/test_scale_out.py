"""Two BFF, two training and two inference replicas on one PostgreSQL, Redis and object store.

Replica i of the BFF calls replica i of training and inference (and training i calls inference
i): `StackConfig.downstream`. So a write through BFF 1 lands on the first replica of each
service and a read through BFF 2 on the second, and every property below is tested across
replicas on purpose, not by a balancer's chance. What must hold: a rate limit counts across BFF
replicas; no job runs twice; a model registered on one inference replica serves from the
other; a write through one BFF is never answered from the other's cache; and killing one
replica of each (mid-job) loses nothing while the survivors serve.

Needs TEST_DATABASE_URL and TEST_REDIS_URL (CI sets them; there a server that does not answer
fails the test). The object store is moto's S3-compatible server, started here.
"""

from __future__ import annotations

import copy
import json
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from infra.local.stack import (
    DATABASE_SERVICES,
    SERVICES,
    Stack,
    StackConfig,
    replica_name,
    split_replica,
)
from services.kit.service_auth import ServiceTokenIssuer
from tests.integration.flows import Phone, is_poke
from tests.support import backends
from tests.support.object_store import S3Server, s3_server
from tests.support.onnx_models import TrainedModel, to_matrix, train_classifier
from tests.support.servers import free_port

__all__ = ["s3_server"]

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not (backends.postgres_admin_url() and backends.redis_admin_url()),
        reason="TEST_DATABASE_URL and TEST_REDIS_URL not set",
    ),
]

REPLICAS = {"bff": 2, "training": 2, "inference": 2}
BATCH_LIMIT = 10
CSV = b"x,y,label\n" + b"".join(f"{i},{(i * 7) % 13},{i % 2}\n".encode() for i in range(60))
# Long enough to be killed mid-run on a busy machine, short enough to run twice in seconds.
SLOW_MLP = {"hidden_layers": [32, 32], "epochs": 300, "patience": 300, "batch_size": 4}
_TIMEOUT = httpx.Timeout(15.0, connect=2.0)


@dataclass
class Scaled:
    """The running stack and a client of each BFF replica."""

    stack: Stack
    bffs: list[httpx.Client]
    inference_bucket: str
    s3: S3Server

    @property
    def config(self) -> StackConfig:
        return self.stack.config

    def as_service(self, callee: str, user_id: str) -> dict[str, str]:
        """Headers of a service token for `callee`, as the training service acting for a user."""
        token = ServiceTokenIssuer(self.config.service_token_secret, "training").mint(
            callee, user_id
        )
        return {"authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def scaled(s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scaled]:
    # Set but not answering (CI): these raise, and the tests fail rather than skip.
    admin_pg = backends.postgres_admin_url() or ""
    redis_url = backends.claim_redis_database(backends.redis_admin_url() or "")
    database_urls = {
        name: backends.create_postgres_database(admin_pg, name) for name in DATABASE_SERVICES
    }
    buckets = {"datasets": s3_server.new_bucket(), "inference": s3_server.new_bucket()}
    store_env = {
        f"TERN_{service.upper()}_{key.upper()}": value
        for service, bucket in buckets.items()
        for key, value in s3_server.settings(bucket).items()
    }
    replicas = dict(REPLICAS)
    config = StackConfig(
        data_dir=tmp_path_factory.mktemp("scale-out"),
        ports={
            process: free_port()
            for name, _module, _port in SERVICES
            for process in (replica_name(name, i) for i in range(1, replicas.get(name, 1) + 1))
        },
        service_token_secret=secrets.token_urlsafe(32),
        jwt_secret=secrets.token_urlsafe(32),
        environment="test",
        database_urls=database_urls,
        redis_url=redis_url,
        replicas=replicas,
        extra_env={
            **store_env,
            # A dead replica's job is claimed again within a lease and a poll.
            "TERN_TRAINING_POLL_INTERVAL_S": "0.2",
            "TERN_TRAINING_LEASE_S": "4",
            "TERN_TRAINING_HEARTBEAT_S": "1",
            # Only the version bus, not the targets' age, may tell a replica of a new version.
            "TERN_INFERENCE_SERVING_TARGET_TTL_S": "300",
            # A sync mutation a killed BFF was applying is retried after this (its claim stays
            # "in flight" until then): longer than any request here takes.
            "TERN_BFF_IDEMPOTENCY_IN_FLIGHT_S": "5",
            "TERN_BFF_RATE_LIMITS": json.dumps(
                {
                    "auth": "300/60",
                    "read": "6000/60",
                    "write": "1200/60",
                    "batch": f"{BATCH_LIMIT}/60",
                    "upload": "600/60",
                    "graphql": "600/60",
                }
            ),
        },
    )
    stack = Stack(config)
    clients: list[httpx.Client] = []
    try:
        stack.start(timeout_s=120)
        clients = [
            httpx.Client(base_url=config.url(process), timeout=_TIMEOUT)
            for process in config.process_names("bff")
        ]
        yield Scaled(stack, clients, buckets["inference"], s3_server)
    finally:
        for client in clients:
            client.close()
        stack.stop()
        for url in database_urls.values():
            backends.drop_postgres_database(admin_pg, url)
        backends.flush_redis_database(redis_url)


def on(phone: Phone, client: httpx.Client) -> Phone:
    """The same phone (token, device) talking to another BFF replica."""
    other = copy.copy(phone)
    other.client = client
    return other


def test_a_rate_limit_holds_across_bff_replicas(scaled: Scaled) -> None:
    phone = Phone(scaled.bffs[0])
    body = {"requests": [{"id": "unread", "path": "/api/v1/notifications/unread-count"}]}

    answers = [
        scaled.bffs[n % 2].post("/api/v1/batch", json=body, headers=phone.headers)
        for n in range(BATCH_LIMIT + 2)
    ]

    assert [a.status_code for a in answers] == [200] * BATCH_LIMIT + [429, 429]
    remaining = [int(a.headers["X-RateLimit-Remaining"]) for a in answers]
    assert remaining == [*range(BATCH_LIMIT - 1, -1, -1), 0, 0]
    assert answers[-1].json()["error"]["code"] == "RATE_LIMITED"
    assert int(answers[-1].headers["Retry-After"]) >= 1


def test_a_model_registered_on_one_inference_replica_serves_from_the_other(
    scaled: Scaled,
) -> None:
    user = f"user-{uuid.uuid4().hex[:8]}"
    first, second = scaled.config.url("inference"), scaled.config.url("inference-2")
    models = [train_classifier(seed=seed) for seed in (0, 1, 2)]
    rows = models[0].held_out[:5]

    with httpx.Client(timeout=_TIMEOUT, headers=scaled.as_service("inference", user)) as client:

        def served_by_second(**options: Any) -> tuple[int, list[Any]]:
            answer = client.post(
                f"{second}/internal/v1/models/{model_id}/predict", json={"rows": rows, **options}
            )
            assert answer.status_code == 200, answer.text
            return answer.json()["version"], [p["label"] for p in answer.json()["predictions"]]

        for version, model in enumerate(models, start=1):
            registered = client.post(
                f"{first}/internal/v1/models/versions",
                files=_artifact(model, "shared", internal=True),
            )
            assert registered.status_code == 201, registered.text
            model_id = registered.json()["model_id"]
            assert registered.json()["version"] == version
            # At once on the other replica, which kept what it served before (the new latest
            # version, and the version under an alias: only the version bus tells it).
            expected = model.pipeline.predict(_matrix(model, rows)).tolist()
            assert served_by_second(version=version) == (version, expected)
            promoted = client.put(
                f"{first}/internal/v1/models/{model_id}/aliases/production",
                json={"version": version},
            )
            assert promoted.status_code == 200, promoted.text
            assert served_by_second() == (version, expected)

        rolled_back = client.put(
            f"{first}/internal/v1/models/{model_id}/aliases/production", json={"version": 1}
        )
        assert rolled_back.status_code == 200, rolled_back.text
        assert served_by_second()[0] == 1

    # The second replica loaded them from the object store: none is in its own data dir.
    assert len([key for key in scaled.s3.keys(scaled.inference_bucket)]) >= len(models)
    replica_dir = scaled.config.data_dir_of("inference-2")
    assert not [p for p in replica_dir.rglob("*.onnx") if p.is_file()]


def test_a_write_through_one_bff_is_not_answered_from_the_others_cache(
    scaled: Scaled,
) -> None:
    writer = Phone(scaled.bffs[0])
    reader = on(writer, scaled.bffs[1])
    dataset_id = str(writer.upload("cached.csv", CSV)["dataset_id"])
    model = train_classifier(seed=3)

    for version in range(1, 6):
        kept = reader.get("/api/v1/dashboard")
        assert reader.get("/api/v1/dashboard").json() == kept.json()  # kept on BFF 2
        uploaded = writer.post("/api/v1/models/uploads", files=_artifact(model, "mine"))
        assert uploaded.status_code == 201, uploaded.text

        after = reader.get("/api/v1/dashboard", headers={"If-None-Match": kept.headers["etag"]})

        assert after.status_code == 200, "BFF 2 answered 304 for a page BFF 1 changed"
        assert after.json()["models"]["items"][0]["latest_version"] == version

    # The same through the training replicas: a job created on BFF 1 shows on BFF 2.
    for _ in range(3):
        assert reader.get("/api/v1/dashboard").status_code == 200
        created = writer.post(
            "/api/v1/training-jobs", json={"dataset_id": dataset_id, "target": "label"}
        )
        assert created.status_code == 201, created.text
        jobs = reader.get("/api/v1/dashboard").json()["jobs"]["items"]
        assert created.json()["id"] in [job["id"] for job in jobs], "BFF 2 showed an old page"

    # And a session revoked on BFF 1 is refused by BFF 2, which had it kept as valid.
    assert reader.get("/api/v1/dashboard").status_code == 200
    assert writer.post("/api/v1/auth/logout").status_code == 204
    refused = reader.get("/api/v1/dashboard")
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "SESSION_REVOKED"


def test_no_job_runs_twice(scaled: Scaled) -> None:
    phones = [Phone(client) for client in scaled.bffs]
    tokens = [uuid.uuid4().hex * 2 for _ in phones]
    datasets = []
    for phone, token in zip(phones, tokens, strict=True):
        phone.register_push_token(token, "ios")
        datasets.append(str(phone.upload("jobs.csv", CSV)["dataset_id"]))

    def create(n: int) -> tuple[int, str]:
        owner = n % 2  # each phone talks to its own BFF, so each BFF's training replica
        created = phones[owner].post(
            "/api/v1/training-jobs",
            json={"dataset_id": datasets[owner], "target": "label", "model_name": f"job-{n}"},
        )
        assert created.status_code == 201, created.text
        return owner, str(created.json()["id"])

    with ThreadPoolExecutor(6) as pool:
        jobs = list(pool.map(create, range(6)))
    finished = [phones[owner].wait_for_job(job_id, timeout_s=60) for owner, job_id in jobs]

    assert [job["status"] for job in finished] == ["succeeded"] * len(jobs)
    assert [job["model_version"] for job in finished] == [1] * len(jobs)
    started = _job_starts(scaled.stack)
    assert {job_id: len(started.get(job_id, [])) for _, job_id in jobs} == {
        job_id: 1 for _, job_id in jobs
    }
    for owner, (phone, token) in enumerate(zip(phones, tokens, strict=True)):
        pushes = _pushes(scaled.config, token, expected=3)
        assert len(pushes) == 3, f"phone {owner} got {len(pushes)} model-ready pushes, not 3"
        models = phone.get("/api/v1/models").json()["items"]
        assert sorted(m["latest_version"] for m in models) == [1, 1, 1]


@dataclass
class _Load:
    """Label edits and reads from one phone, recording what the server acknowledged."""

    phone: Phone
    bffs: list[httpx.Client]
    dataset_id: str
    model_id: str
    up: list[bool] = field(default_factory=lambda: [True, True])  # as this phone believes
    stop: threading.Event = field(default_factory=threading.Event)
    applied: dict[int, str] = field(default_factory=dict)  # row -> label acknowledged
    failed_reads: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # edits the server would not take
    reads: int = 0
    switched: int = 0  # edits retried on the survivor after their BFF died

    def write(self) -> None:
        """One edit per row, each through the next BFF; one that fails is retried on another
        with the same mutation id, as an app's offline queue replays it, and a BFF that did
        not answer is not asked again."""
        for row in range(60):
            if self.stop.is_set():
                return
            mutation = {
                "mutation_id": f"scale-{row}",
                "entity": "labels",
                "op": "upsert",
                "id": f"{self.dataset_id}/1/{row}",
                "data": {"label": f"r{row}", "note": None},
                "base_version": 0,
            }
            deadline = time.monotonic() + 30
            attempt = 0
            while time.monotonic() < deadline:
                live = [i for i, up in enumerate(self.up) if up] or [0, 1]
                index = live[(row + attempt) % len(live)]
                outcome = self._push(index, mutation)
                if outcome == "applied":
                    self.applied[row] = f"r{row}"
                    self.switched += attempt > 0
                    break
                if outcome != "retry":
                    self.refused.append(outcome)
                    break
                attempt += 1
                time.sleep(0.2)
            time.sleep(0.05)

    def _push(self, index: int, mutation: dict[str, Any]) -> str:
        """ "applied", "retry" (later or elsewhere), or why the server refused it."""
        try:
            answer = self.bffs[index].post(
                "/api/v1/sync/push", json={"mutations": [mutation]}, headers=self.phone.headers
            )
        except httpx.TransportError:
            self.up[index] = False
            return "retry"
        if answer.status_code == 503:
            return "retry"
        if answer.status_code != 200:
            return f"{mutation['id']}: {answer.status_code} {answer.text[:200]}"
        result = answer.json()["results"][0]
        if result["status"] in ("applied", "duplicate"):
            return "applied"
        if result["status"] == "conflict":  # the dead BFF applied it, and died answering
            ours = (result["server_state"] or {}).get("label") == mutation["data"]["label"]
            return "applied" if ours else f"{mutation['id']}: conflict {result}"
        if (result["error"] or {}).get("retryable"):  # in flight on the dead BFF: later
            return "retry"
        return f"{mutation['id']}: {result}"

    def read(self, survivor: int) -> None:
        """The dashboard, the job list and a prediction, through the surviving BFF."""
        client = self.bffs[survivor]
        rows = [{"x": 3, "y": 4}]
        while not self.stop.is_set():
            for method, path, body in (
                ("GET", "/api/v1/dashboard", None),
                ("GET", "/api/v1/training-jobs", None),
                ("POST", f"/api/v1/models/{self.model_id}/predict", {"rows": rows}),
            ):
                try:
                    answer = client.request(method, path, json=body, headers=self.phone.headers)
                    status = str(answer.status_code)
                except httpx.TransportError as exc:
                    status = type(exc).__name__
                self.reads += 1
                if status != "200":
                    self.failed_reads.append(f"{method} {path}: {status}")
            time.sleep(0.05)


def test_killing_one_replica_of_each_loses_nothing(scaled: Scaled) -> None:
    stack = scaled.stack
    phone = Phone(scaled.bffs[0])
    token = uuid.uuid4().hex * 2
    phone.register_push_token(token, "ios")
    dataset_id = str(phone.upload("kill.csv", CSV)["dataset_id"])
    warm = phone.post(
        "/api/v1/training-jobs",
        json={"dataset_id": dataset_id, "target": "label", "model_name": "reads"},
    )
    model_id = phone.wait_for_job(warm.json()["id"], timeout_s=60)["model_id"]
    assert _pushes(scaled.config, token, expected=1)

    created = phone.post(
        "/api/v1/training-jobs",
        json={
            "dataset_id": dataset_id,
            "target": "label",
            "model": "mlp",
            "model_name": "survivor",
            "hyperparameters": SLOW_MLP,
        },
    )
    assert created.status_code == 201, created.text
    job_id = str(created.json()["id"])
    victim = _wait_until_training(stack, phone, job_id)  # the replica running the job
    survivor = 3 - victim
    load = _Load(phone, scaled.bffs, dataset_id, model_id)
    threads = [
        threading.Thread(target=load.write, daemon=True),
        threading.Thread(target=load.read, args=(survivor - 1,), daemon=True),
    ]
    _wait_for_progress(phone, job_id)  # training, with hundreds of epochs to go
    for thread in threads:
        thread.start()
    # The kill lands in the middle of the edits, whatever the machine's speed: some edit
    # then meets the dead BFF.
    deadline = time.monotonic() + 30
    while len(load.applied) < 10 and time.monotonic() < deadline:
        time.sleep(0.02)

    for name in ("training", "inference", "bff"):
        stack.kill(replica_name(name, victim))

    survivor_phone = on(phone, scaled.bffs[survivor - 1])
    job = survivor_phone.wait_for_job(job_id, timeout_s=60)
    threads[0].join(timeout=30)
    load.stop.set()
    threads[1].join(timeout=10)
    starts = _job_starts(stack)[job_id]

    print(
        f"reads {load.reads} ({len(load.failed_reads)} failed), label edits applied "
        f"{len(load.applied)} ({load.switched} retried on the survivor), job runs {starts}"
    )
    assert job["status"] == "succeeded", job
    assert job["model_version"] == 1  # registered once: the killed run got no further
    assert [attempt for _, attempt in starts] == [1, 2], starts
    assert starts[0][0] != starts[1][0]  # taken over by the other replica
    models = {m["name"]: m for m in survivor_phone.get("/api/v1/models").json()["items"]}
    assert models["survivor"]["latest_version"] == 1
    assert len(_pushes(scaled.config, token, expected=2)) == 2  # one per job, none twice

    assert load.refused == []
    assert len(load.applied) == 60, f"{60 - len(load.applied)} label edits never applied"
    assert load.switched > 0  # some edit met the dead BFF, and was applied once on the other
    labels = _labels(survivor_phone, dataset_id)
    assert {row: labels.get(row) for row in load.applied} == load.applied
    assert load.reads > 0 and load.failed_reads == []


def _artifact(model: TrainedModel, name: str, *, internal: bool = False) -> dict[str, Any]:
    """Multipart parts of a registration (internal) or of a phone's upload (no format: onnx)."""
    metadata = model.register_metadata(name)
    if not internal:
        metadata.pop("format")
    return {
        "metadata": (None, json.dumps(metadata), "application/json"),
        "artifact": ("model.onnx", model.onnx_bytes, "application/octet-stream"),
    }


def _matrix(model: TrainedModel, rows: list[dict[str, Any]]) -> Any:
    return to_matrix(rows, model.features)


def _job_starts(stack: Stack) -> dict[str, list[tuple[str, int]]]:
    """job id -> (training replica, attempt) of each start, from the replicas' logs."""
    starts: dict[str, list[tuple[str, int]]] = {}
    for process in stack.config.process_names("training"):
        for line in stack.processes[process].log_path.read_text(errors="replace").splitlines():
            if '"job_started"' not in line:
                continue
            event = json.loads(line)
            starts.setdefault(event["job_id"], []).append((process, int(event["attempt"])))
    return {job: sorted(runs, key=lambda run: run[1]) for job, runs in starts.items()}


def _wait_until_training(stack: Stack, phone: Phone, job_id: str) -> int:
    """The index of the training replica that started the job, once it has."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = phone.get(f"/api/v1/training-jobs/{job_id}").json()
        assert job["status"] in ("queued", "running"), job
        runs = _job_starts(stack).get(job_id, [])
        if runs and job["status"] == "running":
            return split_replica(runs[0][0])[1]
        time.sleep(0.1)
    raise AssertionError("the job never started")


def _wait_for_progress(phone: Phone, job_id: str) -> None:
    """Return once the job reported its first progress (its live event stream says so)."""
    with phone.client.stream(
        "GET", f"/api/v1/training-jobs/{job_id}/events", headers=phone.headers
    ) as events:
        assert events.status_code == 200
        for line in events.iter_lines():
            assert line != "event: status", "the job finished before it could be killed"
            if line == "event: progress":
                return
    raise AssertionError("the job's event stream ended without progress")


def _pushes(config: StackConfig, token: str, expected: int) -> list[dict[str, Any]]:
    """The model-ready pushes one device got, once `expected` arrived (and a moment more, for
    a duplicate to show)."""
    deadline = time.monotonic() + 30
    with httpx.Client(base_url=config.url("fake_push"), timeout=_TIMEOUT) as client:

        def received() -> list[dict[str, Any]]:
            got = client.get("/_fake/received", params={"token": token}).json()
            return [push for push in got if not is_poke(push)]

        while len(received()) < expected and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(0.5)
        return received()


def _labels(phone: Phone, dataset_id: str) -> dict[int, str | None]:
    answer = phone.get(
        f"/api/v1/datasets/{dataset_id}/versions/1/labels", params={"limit": 200}
    ).json()
    return {label["row_id"]: label["label"] for label in answer["items"]}
