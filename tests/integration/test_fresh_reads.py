"""Reads answered from what the BFF kept, and only while nothing changed: counted at the services.

Every service counts the requests it answers (its /metrics); a read the BFF answers from
memory adds nothing there. What must hold: an unchanged dashboard or viewer costs no call,
a phone's own write shows in its next read, a change a service makes (a job finishing) within
a second, a revoked session is refused at once, and one user never sees another's pages.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import httpx
import pytest

from infra.local.demo_data import churn_csv
from infra.local.stack import Stack
from tests.integration.flows import Phone

pytestmark = pytest.mark.integration

_LISTS = {
    "datasets": "/internal/v1/datasets",
    "training": "/internal/v1/jobs",
    "inference": "/internal/v1/models",
    "notifications": "/internal/v1/notifications",
}
_VIEWER = "{ viewer { email datasets { items { name } } trainingJobs { items { status } } }}"


def list_reads(stack: Stack) -> dict[str, float]:
    """How many list reads each service has answered so far (from its own metrics)."""
    counts = {}
    for service, route in _LISTS.items():
        text = httpx.get(f"{stack.config.url(service)}/metrics", timeout=5).text
        pattern = re.compile(
            rf'^tern_http_requests_total\{{method="GET",route="{re.escape(route)}",'
            rf'status="200"\}} ([0-9.e+]+)$',
            re.MULTILINE,
        )
        counts[service] = sum(float(value) for value in pattern.findall(text))
    return counts


@pytest.fixture(scope="module")
def phone(stack: Stack) -> Iterator[Phone]:
    with httpx.Client(base_url=stack.config.bff_url, timeout=30.0) as client:
        phone = Phone(client)
        phone.upload("first.csv", churn_csv(rows=60, seed=1))
        yield phone


def test_an_unchanged_dashboard_costs_no_service_call(stack: Stack, phone: Phone) -> None:
    first = phone.get("/api/v1/dashboard")
    assert first.status_code == 200
    before = list_reads(stack)

    again = phone.get("/api/v1/dashboard")
    unchanged = phone.get("/api/v1/dashboard", headers={"If-None-Match": first.headers["etag"]})

    assert again.status_code == 200 and again.json() == first.json()
    assert again.headers["etag"] == first.headers["etag"]
    assert unchanged.status_code == 304 and unchanged.content == b""
    assert list_reads(stack) == before


def test_the_graphql_viewer_reads_through_the_same_pages(stack: Stack, phone: Phone) -> None:
    first = phone.post("/graphql", json={"query": _VIEWER})
    assert first.status_code == 200 and "errors" not in first.json(), first.text
    before = list_reads(stack)

    again = phone.post("/graphql", json={"query": _VIEWER})

    assert again.json() == first.json()
    assert list_reads(stack) == before


def test_a_phones_own_write_shows_in_its_next_read(stack: Stack, phone: Phone) -> None:
    shown = phone.get("/api/v1/dashboard").json()
    before = list_reads(stack)

    added = phone.upload("second.csv", churn_csv(rows=50, seed=2))
    after = phone.get("/api/v1/dashboard").json()

    names = [item["name"] for item in after["datasets"]["items"]]
    assert names[0] == "second" and len(names) == len(shown["datasets"]["items"]) + 1
    assert added["dataset_id"] == after["datasets"]["items"][0]["id"]
    reads = list_reads(stack)
    # Only the service that changed was asked again.
    assert reads["datasets"] == before["datasets"] + 1
    assert {k: v for k, v in reads.items() if k != "datasets"} == {
        k: v for k, v in before.items() if k != "datasets"
    }


def test_a_phones_own_write_shows_in_its_next_graphql_read(stack: Stack, phone: Phone) -> None:
    first = phone.post("/graphql", json={"query": _VIEWER}).json()
    assert phone.post("/graphql", json={"query": _VIEWER}).json() == first  # the kept answer

    phone.upload("third.csv", churn_csv(rows=40, seed=3))
    after = phone.post("/graphql", json={"query": _VIEWER}).json()

    names = [item["name"] for item in after["data"]["viewer"]["datasets"]["items"]]
    assert names[0] == "third"
    assert len(names) == len(first["data"]["viewer"]["datasets"]["items"]) + 1


def test_a_change_a_service_makes_shows_within_a_second(stack: Stack, phone: Phone) -> None:
    dataset_id = phone.get("/api/v1/datasets").json()["items"][0]["id"]
    created = phone.post(
        "/api/v1/training-jobs",
        json={"dataset_id": dataset_id, "target": "churned", "model": "logistic_regression"},
    )
    assert created.status_code == 201, created.text
    job_id = created.json()["id"]
    assert _job_status_in_dashboard(phone, job_id) in ("queued", "running")
    assert _job_status_in_viewer(phone, job_id) in ("queued", "running")

    # Asked of the training service itself (this route is not kept by the BFF).
    phone.wait_for_job(job_id, timeout_s=120)
    finished_seen = time.monotonic()
    while _job_status_in_dashboard(phone, job_id) != "succeeded":
        assert time.monotonic() - finished_seen < 1.0, "the dashboard still shows the old job"
        time.sleep(0.02)
    while _job_status_in_viewer(phone, job_id) != "succeeded":
        assert time.monotonic() - finished_seen < 1.0, "the viewer still shows the old job"
        time.sleep(0.02)


def test_a_revoked_session_is_refused_at_once(stack: Stack) -> None:
    with httpx.Client(base_url=stack.config.bff_url, timeout=30.0) as client:
        phone = Phone(client)
        assert phone.get("/api/v1/dashboard").status_code == 200  # the session check is kept
        assert phone.post("/api/v1/auth/logout").status_code == 204

        refused = phone.get("/api/v1/dashboard")

    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "SESSION_REVOKED"


def test_one_users_kept_pages_never_reach_another(stack: Stack, phone: Phone) -> None:
    mine = phone.get("/api/v1/dashboard").json()
    my_viewer = phone.post("/graphql", json={"query": _VIEWER}).json()
    with httpx.Client(base_url=stack.config.bff_url, timeout=30.0) as client:
        other = Phone(client)
        theirs = other.get("/api/v1/dashboard").json()
        their_viewer = other.post("/graphql", json={"query": _VIEWER}).json()

    assert mine["datasets"]["items"] and my_viewer["data"]["viewer"]["datasets"]["items"]
    assert theirs["datasets"]["items"] == []
    assert their_viewer["data"]["viewer"]["datasets"]["items"] == []


def _job_status_in_viewer(phone: Phone, job_id: str) -> str | None:
    query = "{ viewer { trainingJobs { items { id status } } } }"
    jobs = phone.post("/graphql", json={"query": query}).json()["data"]["viewer"]["trainingJobs"]
    return next((job["status"] for job in jobs["items"] if job["id"] == job_id), None)


def _job_status_in_dashboard(phone: Phone, job_id: str) -> str | None:
    jobs = phone.get("/api/v1/dashboard").json()["jobs"]["items"]
    return next((job["status"] for job in jobs if job["id"] == job_id), None)
