"""The real stack with one realistic viewer, seeded through the public API, for benchmarks.

The viewer has a full first page of every dashboard section: 20 datasets (CSV uploads), 20
trained jobs over 4 model names, their "model ready" notifications, and an iPhone.
"""

from __future__ import annotations

import json
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

from infra.local.demo_data import churn_csv
from infra.local.stack import SERVICES, Stack, StackConfig
from tests.integration.flows import Phone
from tests.support.servers import free_port

SEED_DATASETS = 20  # one dashboard page of each section (dashboard_page_size)
SEED_JOBS = 20
ACTIVE_JOBS_PER_USER = 5  # the training service's cap
MODEL_NAMES = ("Churn predictor", "churn-lr-balanced", "Churn (tenure only)", "Churn v2")
DASHBOARD_PROCESSES = ("bff", "datasets", "inference", "training", "notifications")

STACK_ENV = {
    "TERN_TRAINING_CONCURRENCY": "2",
    # The worker's poll stays at its default (1 s): a new job wakes it, and a faster poll would
    # charge its queries to every request measured.
    # Benchmarks read far more often than a phone; the per-user limits are not measured.
    "TERN_BFF_RATE_LIMITS": json.dumps(
        {"auth": "30/60", "read": "1000000/60", "write": "1000/60", "upload": "1000/60",
         "batch": "1000/60", "graphql": "1000000/60"}
    ),
}  # fmt: skip


@contextmanager
def running_stack(
    prefix: str, extra_env: Mapping[str, str] | None = None
) -> Iterator[tuple[Stack, StackConfig]]:
    """The whole stack (embedded defaults) on free ports, stopped and removed afterwards."""
    config = StackConfig(
        data_dir=Path(tempfile.mkdtemp(prefix=prefix)),
        ports={name: free_port() for name, _module, _port in SERVICES},
        service_token_secret=secrets.token_urlsafe(32),
        jwt_secret=secrets.token_urlsafe(32),
        environment="test",
        extra_env={**STACK_ENV, **(extra_env or {})},
    )
    stack = Stack(config)
    try:
        stack.start(timeout_s=120)
        yield stack, config
    finally:
        stack.stop()
        shutil.rmtree(config.data_dir, ignore_errors=True)


def seed_viewer(client: httpx.Client) -> dict[str, str]:
    """A viewer with a full first page of each section; their auth and device headers."""
    phone = Phone(client, email="viewer@example.com")
    phone.register_push_token("b2" * 32, "ios")
    dataset_ids = [
        str(phone.upload(f"churn_export_{n:02d}.csv", churn_csv(rows=200, seed=n))["dataset_id"])
        for n in range(SEED_DATASETS)
    ]
    seeded: list[str] = []
    for wave in range(0, SEED_JOBS, ACTIVE_JOBS_PER_USER):
        jobs = []
        for n in range(wave, min(SEED_JOBS, wave + ACTIVE_JOBS_PER_USER)):
            created = phone.post(
                "/api/v1/training-jobs",
                json={
                    "dataset_id": dataset_ids[n % len(dataset_ids)],
                    "target": "churned",
                    "model": "logistic_regression",
                    "model_name": MODEL_NAMES[n % len(MODEL_NAMES)],
                    "hyperparameters": {"C": [0.1, 1.0, 10.0][n % 3], "max_iter": 1000},
                },
            )
            assert created.status_code == 201, created.text
            jobs.append(created.json()["id"])
        for job in jobs:
            phone.wait_for_job(job, timeout_s=300)
        seeded += jobs
    _settle(phone, seeded)
    return {"authorization": phone.headers["Authorization"], "x-device-id": phone.device_id}


def _settle(phone: Phone, jobs: list[str], timeout_s: float = 120.0) -> None:
    """Until nothing of the viewer changes any more: each job's report is in (it follows the
    job's success) and the dashboard's ETag holds over a second and a half (a model-ready
    notification is made after the job's success too). A benchmark that reads "unchanged"
    pages must not start while they still change."""
    deadline = time.monotonic() + timeout_s
    while any(phone.get(f"/api/v1/training-jobs/{job}").json()["report_ready_at"] is None
              for job in jobs):  # fmt: skip
        if time.monotonic() > deadline:
            raise TimeoutError("the seeded jobs' reports did not all arrive")
        time.sleep(0.2)
    etag = phone.get("/api/v1/dashboard").headers["etag"]
    while True:
        time.sleep(1.5)
        now = phone.get("/api/v1/dashboard").headers["etag"]
        if now == etag:
            return
        if time.monotonic() > deadline:
            raise TimeoutError("the viewer's dashboard kept changing")
        etag = now
