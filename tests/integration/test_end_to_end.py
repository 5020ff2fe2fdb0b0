"""The thin end-to-end path, real at every hop: phone -> BFF -> services -> fake push provider."""

from __future__ import annotations

import time

import httpx
import pytest

from infra.local.demo_data import churn_csv
from infra.local.seed import seed
from infra.local.stack import Stack
from services.kit.service_auth import ServiceTokenIssuer
from tests.integration.flows import Phone, wait_for_pushes

pytestmark = pytest.mark.integration

FEATURE_ROWS = [
    {
        "tenure_months": 2,
        "monthly_spend": 12.5,
        "plan": "basic",
        "support_tickets": 7,
        "region": "north",
    },
    {
        "tenure_months": 70,
        "monthly_spend": 55.0,
        "plan": "pro",
        "support_tickets": 0,
        "region": "west",
    },
]


def test_sign_in_upload_train_predict_and_push(stack: Stack, bff: httpx.Client) -> None:
    phone = Phone(bff)
    ios_token = "c3" * 32
    phone.register_push_token(ios_token, "ios")
    android_token = "fcm-" + "x" * 40
    other_device = Phone(bff, email=None)  # a second user must never get this user's push
    other_device.register_push_token("d4" * 32, "ios")

    version = phone.upload("churn.csv", churn_csv(rows=240))
    assert version["version"] == 1
    assert version["row_count"] == 240
    dataset_id = version["dataset_id"]
    assert {c["name"] for c in version["columns"]} >= {"tenure_months", "plan", "churned"}

    # A second device of the same user (Android) registered after the upload.
    response = phone.put(
        "/api/v1/devices/second-phone/push-token",
        json={"token": android_token, "platform": "android"},
    )
    assert response.status_code == 200, response.text

    created = phone.post(
        "/api/v1/training-jobs",
        json={"dataset_id": dataset_id, "target": "churned", "model": "logistic_regression"},
    )
    assert created.status_code == 201, created.text
    job = phone.wait_for_job(created.json()["id"])
    assert job["status"] == "succeeded", job
    assert job["task"] == "classification"
    assert 0.5 <= job["metrics"]["accuracy"] <= 1.0
    model_id = job["model_id"]

    prediction = phone.post(f"/api/v1/models/{model_id}/predict", json={"rows": FEATURE_ROWS})
    assert prediction.status_code == 200, prediction.text
    body = prediction.json()
    assert body["version"] == job["model_version"]
    labels = [p["label"] for p in body["predictions"]]
    assert labels == ["yes", "no"]  # many tickets + short tenure churns; a loyal pro stays
    for p in body["predictions"]:
        assert abs(sum(p["probabilities"].values()) - 1.0) < 1e-4

    fake_push = stack.config.url("fake_push")
    ios = wait_for_pushes(fake_push, ios_token, 1)
    android = wait_for_pushes(fake_push, android_token, 1)
    assert len(ios) == 1 and len(android) == 1
    assert ios[0]["platform"] == "apns" and android[0]["platform"] == "fcm"
    assert job["id"] in str(ios[0]["payload"]) and job["id"] in str(android[0]["payload"])
    assert "churned" not in str(ios[0]["payload"])  # a push carries ids, not the user's data
    time.sleep(1.0)  # nothing arrives twice, and nothing for the other user
    assert len(wait_for_pushes(fake_push, ios_token, 2, timeout_s=0.5)) == 1
    assert wait_for_pushes(fake_push, "d4" * 32, 1, timeout_s=0.5) == []

    inbox = phone.get("/api/v1/notifications")
    assert inbox.status_code == 200, inbox.text
    assert [n["data"].get("job_id") for n in inbox.json()["items"]] == [job["id"]]

    query = """
      query { viewer { id email
        datasets { items { id name latestVersion } }
        trainingJobs { items { id status modelId } }
        models { items { id name latestVersion } }
      } }
    """
    graphql = phone.post("/graphql", json={"query": query})
    assert graphql.status_code == 200, graphql.text
    viewer = graphql.json()["data"]["viewer"]
    assert viewer["email"] == phone.email
    assert [d["id"] for d in viewer["datasets"]["items"]] == [dataset_id]
    assert [j["id"] for j in viewer["trainingJobs"]["items"]] == [job["id"]]
    assert [m["id"] for m in viewer["models"]["items"]] == [model_id]


def test_users_see_only_their_own_data(stack: Stack, bff: httpx.Client) -> None:
    owner = Phone(bff)
    version = owner.upload("mine.csv", churn_csv(rows=40))
    intruder = Phone(bff)
    dataset_id = version["dataset_id"]

    assert intruder.get(f"/api/v1/datasets/{dataset_id}").status_code == 404
    assert intruder.get("/api/v1/datasets").json()["items"] == []
    started = intruder.post(
        "/api/v1/training-jobs", json={"dataset_id": dataset_id, "target": "churned"}
    )
    assert started.status_code == 404, started.text
    assert started.json()["error"]["code"].endswith("NOT_FOUND")
    assert owner.get(f"/api/v1/datasets/{dataset_id}").status_code == 200


def test_bff_speaks_http2_cleartext_and_echoes_request_id(stack: Stack) -> None:
    with httpx.Client(http1=False, http2=True, base_url=stack.config.bff_url) as client:
        response = client.get("/health", headers={"X-Request-ID": "phone-req-42"})
    assert response.http_version == "HTTP/2"
    assert response.headers["x-request-id"] == "phone-req-42"


def test_internal_routes_refuse_missing_and_misaddressed_service_tokens(stack: Stack) -> None:
    datasets = stack.config.url("datasets")
    tokens = ServiceTokenIssuer(stack.config.service_token_secret, "bff")
    with httpx.Client(base_url=datasets) as client:
        missing = client.get("/internal/v1/datasets")
        assert missing.status_code == 401
        assert missing.json()["error"]["code"] == "SERVICE_TOKEN_REQUIRED"
        wrong = client.get(
            "/internal/v1/datasets",
            headers={"authorization": f"Bearer {tokens.mint('inference', 'u1')}"},
        )
        assert wrong.status_code == 403
        forged = ServiceTokenIssuer("not-the-real-secret-0123456789-abcdef", "bff").mint(
            "datasets", "u1"
        )
        assert (
            client.get(
                "/internal/v1/datasets", headers={"authorization": f"Bearer {forged}"}
            ).status_code
            == 401
        )
        right = client.get(
            "/internal/v1/datasets",
            headers={"authorization": f"Bearer {tokens.mint('datasets', 'u1')}"},
        )
        assert right.status_code == 200


def test_each_service_takes_internal_calls_only_from_the_services_that_call_it(
    stack: Stack,
) -> None:
    """Least privilege: a valid token of a service that has no business calling (inference
    calling training, anyone calling the BFF's internals) is refused."""
    secret = stack.config.service_token_secret

    def status(caller: str, callee: str, path: str) -> int:
        token = ServiceTokenIssuer(secret, caller).mint(callee, "u1")
        url = stack.config.bff_url if callee == "bff" else stack.config.url(callee)
        response = httpx.get(url + path, headers={"authorization": f"Bearer {token}"})
        return response.status_code

    assert status("training", "datasets", "/internal/v1/datasets") == 200
    assert status("bff", "training", "/internal/v1/jobs") == 200
    refused = [
        status("inference", "training", "/internal/v1/jobs"),
        status("notifications", "datasets", "/internal/v1/datasets"),
        status("datasets", "inference", "/internal/v1/models"),
        status("training", "bff", "/internal/v1/versions/watch"),
    ]
    assert refused == [403, 403, 403, 403]


def test_make_run_seed_is_idempotent_and_gives_a_trainable_dataset(
    stack: Stack, bff: httpx.Client
) -> None:
    first = seed(stack.config.bff_url)
    second = seed(stack.config.bff_url)
    assert (second.user_id, second.dataset_id) == (first.user_id, first.dataset_id)
    headers = {"Authorization": f"Bearer {second.access_token}"}
    datasets = bff.get("/api/v1/datasets", headers=headers).json()["items"]
    assert [d["id"] for d in datasets] == [first.dataset_id]
    assert {c["name"] for c in datasets[0]["columns"]} >= {"churned", "plan", "tenure_months"}
