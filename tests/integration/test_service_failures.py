"""One service down: the BFF says which, in /ready and in the error body, and recovers."""

from __future__ import annotations

import time

import httpx
import pytest

from infra.local.stack import Stack
from tests.integration.flows import Phone

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
    while phone.get("/api/v1/models").status_code != 200:
        assert time.monotonic() < deadline, "the BFF did not recover after inference came back"
        time.sleep(0.5)
    assert bff.get("/ready").status_code == 200
