"""The BFF with every service down: health, readiness, errors, request ids, limits."""

from pathlib import Path

import httpx

from bff.app import create_app
from tests.support.apps import running_app
from tests.support.bff_accounts import bearer, bff_settings, sign_up


async def test_ready_names_every_service_that_is_down(client: httpx.AsyncClient) -> None:
    response = await client.get("/ready")

    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "NOT_READY"
    assert error["details"]["failed"] == ["datasets", "inference", "notifications", "training"]
    assert error["details"]["checks"]["database"] == "ok"


async def test_a_dead_service_answers_503_naming_it(client: httpx.AsyncClient) -> None:
    tokens = await sign_up(client)

    response = await client.get("/api/v1/datasets", headers=bearer(tokens))

    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "SERVICE_UNAVAILABLE"
    assert error["details"]["service"] == "datasets"
    assert error["retry"]["allowed"] is True
    assert "retry-after" in response.headers


async def test_each_service_backed_route_names_its_service(client: httpx.AsyncClient) -> None:
    headers = bearer(await sign_up(client))
    calls = {
        "training": client.get("/api/v1/training-jobs", headers=headers),
        "inference": client.get("/api/v1/models", headers=headers),
        "notifications": client.get("/api/v1/notifications", headers=headers),
    }
    for service, call in calls.items():
        response = await call
        assert response.status_code == 503
        assert response.json()["error"]["details"]["service"] == service


async def test_request_ids_are_echoed_or_made_up(client: httpx.AsyncClient) -> None:
    given = await client.get("/health", headers={"X-Request-ID": "phone-req-42"})
    minted = await client.get("/health")

    assert given.headers["x-request-id"] == "phone-req-42"
    assert len(minted.headers["x-request-id"]) >= 16


async def test_routes_need_an_access_token(client: httpx.AsyncClient) -> None:
    for method, path in [
        ("GET", "/api/v1/me"),
        ("GET", "/api/v1/datasets"),
        ("POST", "/api/v1/training-jobs"),
        ("GET", "/api/v1/notifications"),
    ]:
        response = await client.request(method, path)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "AUTH_REQUIRED"
        assert response.json()["error"]["action"] == "sign_in"


async def test_a_garbage_token_is_invalid(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/me", headers={"authorization": "Bearer garbage"})

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "TOKEN_INVALID"


async def test_bodies_over_the_limit_are_refused(tmp_path: Path) -> None:
    settings = bff_settings(tmp_path, max_request_body_bytes=1024)
    async with running_app(create_app(settings)) as client:
        response = await client.post(
            "/api/v1/auth/login",
            content=b"x" * 4096,
            headers={"content-type": "application/json"},
        )

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_metrics_are_labelled_by_platform_and_app_minor_version(
    client: httpx.AsyncClient,
) -> None:
    await client.get("/api/v1/me", headers={"X-Platform": "iOS", "X-App-Version": "3.14.159"})
    await client.get("/api/v1/me", headers={"X-Platform": "symbian", "X-App-Version": "junk"})

    text = (await client.get("/metrics")).text

    assert 'app_version="3.14",method="GET",platform="ios"' in _labels_sorted(text)
    assert 'app_version="other",method="GET",platform="other"' in _labels_sorted(text)


def _labels_sorted(metrics: str) -> str:
    lines = []
    for line in metrics.splitlines():
        if line.startswith("tern_http_requests_total{"):
            inner = line[line.index("{") + 1 : line.index("}")]
            parts = inner.split(",")
            labels = sorted(part for part in parts if not part.startswith(("route", "status")))
            lines.append(",".join(labels))
    return "\n".join(lines)
