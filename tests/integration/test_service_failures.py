"""One service down: the BFF says which, in /ready and in the error body, and recovers.

And the logs of the processes a request crossed tell one story: one trace, spans that nest."""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

import httpx
import pytest

from infra.local.stack import Stack
from tests.integration.flows import Phone
from tests.support.logs import access_lines

pytestmark = pytest.mark.integration


def test_a_dead_service_is_named_by_ready_and_by_errors(stack: Stack, bff: httpx.Client) -> None:
    phone = Phone(bff)
    assert bff.get("/ready").status_code == 200

    stack.kill("inference")
    ready = bff.get("/ready")
    assert ready.status_code == 503
    error = ready.json()["error"]
    assert error["code"] == "NOT_READY"
    assert error["details"]["failed"] == ["inference"]
    assert "inference" in error["message"]

    models = phone.get("/api/v1/models")
    assert models.status_code == 503
    body = models.json()["error"]
    assert body["code"] == "SERVICE_UNAVAILABLE"
    assert body["details"]["service"] == "inference"
    assert body["retry"]["allowed"] is True
    assert int(models.headers["retry-after"]) >= 1
    # Other services still answer.
    assert phone.get("/api/v1/datasets").status_code == 200

    stack.restart("inference")
    deadline = time.monotonic() + 30
    # Recovered: the service answers through the BFF, and the BFF hears its changes again.
    while phone.get("/api/v1/models").status_code != 200 or bff.get("/ready").status_code != 200:
        assert time.monotonic() < deadline, "the BFF did not recover after inference came back"
        time.sleep(0.5)


def _access_lines(stack: Stack, service: str, request_id: str) -> list[dict[str, Any]]:
    """The access lines `service` wrote for a request (each written just after it answered)."""
    log_path = stack.processes[service].log_path
    deadline = time.monotonic() + 10
    while True:
        lines = access_lines(log_path.read_text(errors="replace"), request_id=request_id)
        if lines:
            return lines
        assert time.monotonic() < deadline, f"{service} logged no request {request_id}"
        time.sleep(0.1)


def test_a_downstream_log_line_carries_the_bffs_trace(stack: Stack, bff: httpx.Client) -> None:
    phone = Phone(bff)
    request_id = f"trace-{uuid.uuid4().hex}"

    response = bff.get("/api/v1/datasets", headers={**phone.headers, "X-Request-ID": request_id})

    assert response.status_code == 200
    [edge] = _access_lines(stack, "bff", request_id)
    assert edge["route"] == "/api/v1/datasets" and edge["parent_span_id"] is None
    for call in _access_lines(stack, "datasets", request_id):
        assert call["trace_id"] == edge["trace_id"]
        assert call["parent_span_id"] == edge["span_id"]
        assert call["span_id"] != edge["span_id"]


_TOO_BIG = 2**64  # past every 64-bit column
_PAST_INT64 = 2**63


def _cursor(position: dict[str, Any]) -> str:
    """A cursor of our own shape holding `position`: what a client could forge."""
    raw = json.dumps({"v": 1, "p": position}).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_integers_past_64_bits_are_refused_and_never_open_a_breaker(bff: httpx.Client) -> None:
    """One user's out-of-range numbers are their own 4xx: no 5xx, and after many of them
    (each a retried 500 once) another user still reaches every service."""
    attacker, other = Phone(bff), Phone(bff)
    some, big = uuid.uuid4(), _PAST_INT64
    probes = [
        ("GET", f"/api/v1/datasets/changes?since={_PAST_INT64}", None),
        ("GET", f"/api/v1/datasets/{some}/versions/{_PAST_INT64}", None),
        ("GET", f"/api/v1/models/{some}/versions/{_PAST_INT64}", None),
        ("GET", f"/api/v1/models/{some}/versions?cursor={_cursor({'v': _PAST_INT64})}", None),
        (
            "GET",
            f"/api/v1/datasets/{some}/versions?cursor={_cursor({'before_version': _PAST_INT64})}",
            None,
        ),
        (
            "GET",
            f"/api/v1/datasets/{some}/versions/1/rows?cursor={_cursor({'row': _PAST_INT64})}",
            None,
        ),
        (
            "GET",
            f"/api/v1/datasets/{some}/versions/1/labels?cursor={_cursor({'after_row': big})}",
            None,
        ),
        ("POST", "/api/v1/uploads", {"filename": "a.csv", "size": _TOO_BIG, "sha256": "0" * 64}),
        (
            "PUT",
            f"/api/v1/datasets/{some}/versions/1/labels",
            {"labels": [{"row_id": _TOO_BIG, "label": "x"}]},
        ),
        (
            "PUT",
            f"/api/v1/datasets/{some}/versions/1/labels",
            {"labels": [{"row_id": 1, "label": "x", "base_revision": _TOO_BIG}]},
        ),
        ("PUT", f"/api/v1/models/{some}/aliases/production", {"version": _TOO_BIG}),
        ("POST", f"/api/v1/models/{some}/predict", {"rows": [{"a": 1}], "version": _TOO_BIG}),
        ("POST", "/api/v1/training-jobs", {"dataset_id": str(some), "target": "y", "seed": 2**40}),
        ("POST", "/api/v1/training-jobs", {"dataset_id": str(some), "target": "y", "seed": -1}),
    ]
    answers = []
    for _ in range(3):  # more failures than any breaker's threshold, had they been 500s
        for method, path, body in probes:
            response = attacker.client.request(method, path, json=body, headers=attacker.headers)
            answers.append((path, response.status_code, response.json()["error"]["code"]))

    assert [a for a in answers if not 400 <= a[1] < 500] == []
    for path in ("/api/v1/datasets", "/api/v1/models", "/api/v1/training-jobs"):
        assert other.get(path).status_code == 200, path
