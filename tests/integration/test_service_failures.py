"""One service down: the BFF says which, in /ready and in the error body, and recovers.

And the logs of the processes a request crossed tell one story: one trace, spans that nest."""

from __future__ import annotations

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
