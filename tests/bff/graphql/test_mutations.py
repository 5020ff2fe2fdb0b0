"""GraphQL mutations against the real services: each domain's writes, typed user errors for
what the user can fix, and GraphQL errors (with the mobile code) for the rest."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.bff.graphql.mutation_stack import MAX_DEVICES, Phone, Stack, serving_stack, user_errors
from tests.support.bff_accounts import bearer, sign_up
from tests.support.onnx_models import train_classifier


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with serving_stack(tmp_path) as running:
        yield running


@pytest.fixture
async def ada(stack: Stack) -> Phone:
    return await stack.phone()


@pytest.fixture
async def bob(stack: Stack) -> Phone:
    return await stack.phone("bob@example.com", "bobs-phone")


CREATE_UPLOAD = """
mutation($input: CreateUploadInput!) {
  createUpload(input: $input) {
    upload { uploadId chunkSize chunkCount receivedChunks status }
    userErrors { code message field }
  }
}"""
COMPLETE_UPLOAD = """
mutation($id: ID!) {
  completeUpload(input: {uploadId: $id}) {
    dataset { id name latestVersion rowCount }
    version
    userErrors { code field }
  }
}"""
DELETE_DATASET = """
mutation($id: ID!) {
  deleteDataset(input: {datasetId: $id}) { deletedDatasetId userErrors { code message field } }
}"""
SET_LABELS = """
mutation($input: SetLabelsInput!) {
  setLabels(input: $input) {
    applied { rowId label revision }
    conflicts { rowId baseRevision current { label revision } }
    userErrors { code field }
  }
}"""
CREATE_JOB = """
mutation($input: CreateTrainingJobInput!) {
  createTrainingJob(input: $input) {
    trainingJob { id status datasetId target model }
    userErrors { code message field }
  }
}"""
CANCEL_JOB = """
mutation($id: ID!) {
  cancelTrainingJob(input: {id: $id}) { trainingJob { id status } userErrors { code field } }
}"""
REGISTER = """
mutation($device: String!, $token: String!) {
  registerPushToken(input: {deviceId: $device, token: $token, platform: "ios"}) {
    device { deviceId platform }
    userErrors { code message field }
  }
}"""


async def test_an_upload_is_announced_sent_over_rest_and_completed(ada: Phone) -> None:
    csv = b"x,y\n1,a\n2,b\n"
    sha = hashlib.sha256(csv).hexdigest()
    data = await ada.mutate(
        CREATE_UPLOAD, input={"filename": "tiny.csv", "size": len(csv), "sha256": sha}
    )
    upload = data["createUpload"]["upload"]
    assert data["createUpload"]["userErrors"] == []
    assert (upload["chunkCount"], upload["status"]) == (1, "open")

    chunk = await ada.client.put(
        f"/api/v1/uploads/{upload['uploadId']}/chunks/0",
        content=csv,
        headers={**bearer(ada.tokens), "X-Chunk-SHA256": sha},
    )
    assert chunk.status_code == 200, chunk.text
    done = (await ada.mutate(COMPLETE_UPLOAD, id=upload["uploadId"]))["completeUpload"]

    assert done["userErrors"] == []
    assert done["version"] == 1
    assert (done["dataset"]["latestVersion"], done["dataset"]["rowCount"]) == (1, 2)


async def test_a_bad_upload_input_is_a_user_error_on_its_field(ada: Phone) -> None:
    data = await ada.mutate(
        CREATE_UPLOAD, input={"filename": "a.csv", "size": 3, "sha256": "not-a-digest"}
    )

    assert data["createUpload"]["upload"] is None
    assert user_errors(data["createUpload"]) == [("VALIDATION_FAILED", ["input", "sha256"])]


async def test_a_dataset_is_deleted_but_not_another_users(ada: Phone, bob: Phone) -> None:
    adas = await ada.dataset()
    bobs = await bob.dataset()

    theirs = (await ada.mutate(DELETE_DATASET, id=bobs["dataset_id"]))["deleteDataset"]
    own = (await ada.mutate(DELETE_DATASET, id=adas["dataset_id"]))["deleteDataset"]

    assert theirs["deletedDatasetId"] is None
    assert user_errors(theirs) == [("DATASET_NOT_FOUND", ["input", "datasetId"])]
    assert "bob" not in theirs["userErrors"][0]["message"]
    assert own == {"deletedDatasetId": adas["dataset_id"], "userErrors": []}
    still = await bob.client.get(
        f"/api/v1/datasets/{bobs['dataset_id']}", headers=bearer(bob.tokens)
    )
    assert still.status_code == 200


async def test_labels_are_set_and_a_stale_one_comes_back_as_a_conflict(ada: Phone) -> None:
    version = await ada.dataset()
    target = {"datasetId": version["dataset_id"], "version": version["version"]}

    first = (
        await ada.mutate(SET_LABELS, input={**target, "labels": [{"rowId": 0, "label": "cat"}]})
    )["setLabels"]
    stale = (
        await ada.mutate(
            SET_LABELS,
            input={
                **target,
                "labels": [
                    {"rowId": 1, "label": "dog"},
                    {"rowId": 0, "label": "bird", "baseRevision": 0},
                ],
            },
        )
    )["setLabels"]

    assert first["applied"] == [{"rowId": 0, "label": "cat", "revision": 1}]
    assert first["userErrors"] == []
    assert [label["rowId"] for label in stale["applied"]] == [1]
    assert stale["conflicts"] == [
        {"rowId": 0, "baseRevision": 0, "current": {"label": "cat", "revision": 1}}
    ]
    assert user_errors(stale) == [("LABEL_CONFLICT", ["input", "labels", "1"])]


async def test_a_training_job_is_started_and_cancelled(ada: Phone) -> None:
    version = await ada.dataset()

    created = (
        await ada.mutate(CREATE_JOB, input={"datasetId": version["dataset_id"], "target": "bought"})
    )["createTrainingJob"]
    job = created["trainingJob"]
    cancelled = (await ada.mutate(CANCEL_JOB, id=job["id"]))["cancelTrainingJob"]

    assert created["userErrors"] == []
    assert (job["status"], job["model"]) == ("queued", "logistic_regression")
    assert cancelled == {"trainingJob": {"id": job["id"], "status": "cancelled"}, "userErrors": []}
    listed = await ada.client.get("/api/v1/training-jobs", headers=bearer(ada.tokens))
    assert [item["id"] for item in listed.json()["items"]] == [job["id"]]


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ({"target": ""}, ("VALIDATION_FAILED", ["input", "target"])),
        ({"validationSplit": 0.95}, ("VALIDATION_FAILED", ["input", "validationSplit"])),
        ({"datasetId": "not-an-id"}, ("VALIDATION_FAILED", ["input", "datasetId"])),
        ({"datasetId": str(uuid.uuid4())}, ("DATASET_NOT_FOUND", ["input", "datasetId"])),
    ],
)
async def test_a_job_the_user_can_fix_is_a_user_error(
    ada: Phone, extra: dict[str, object], error: tuple[str, list[str]]
) -> None:
    version = await ada.dataset()
    job = {"datasetId": version["dataset_id"], "target": "bought", **extra}

    created = (await ada.mutate(CREATE_JOB, input=job))["createTrainingJob"]

    assert created["trainingJob"] is None
    assert user_errors(created) == [error]


async def test_another_users_job_is_not_found(ada: Phone, bob: Phone) -> None:
    version = await bob.dataset()
    bobs = await bob.mutate(
        CREATE_JOB, input={"datasetId": version["dataset_id"], "target": "bought"}
    )
    job_id = bobs["createTrainingJob"]["trainingJob"]["id"]

    cancelled = (await ada.mutate(CANCEL_JOB, id=job_id))["cancelTrainingJob"]

    assert cancelled["trainingJob"] is None
    assert user_errors(cancelled) == [("JOB_NOT_FOUND", ["input", "id"])]


async def test_aliases_are_set_and_removed_and_predictions_come_back(ada: Phone) -> None:
    trained = train_classifier()
    model_id = (await ada.model(trained))["model_id"]
    alias = """
    mutation($id: ID!, $alias: String!, $version: Int!) {
      setModelAlias(input: {modelId: $id, alias: $alias, version: $version}) {
        model { id aliases } userErrors { code field }
      }
    }"""
    set_ = (await ada.mutate(alias, id=model_id, alias="production", version=1))["setModelAlias"]
    missing = (await ada.mutate(alias, id=model_id, alias="production", version=9))["setModelAlias"]
    bad = (await ada.mutate(alias, id=model_id, alias="Not An Alias", version=1))["setModelAlias"]
    predicted = (
        await ada.mutate(
            """mutation($input: PredictInput!) {
              predict(input: $input) {
                result { modelId version predictions { label probabilities } }
                userErrors { code field }
              }
            }""",
            input={"modelId": model_id, "rows": trained.held_out[:3]},
        )
    )["predict"]
    removed = (
        await ada.mutate(
            """mutation($id: ID!) {
              deleteModelAlias(input: {modelId: $id, alias: "production"}) {
                model { aliases } userErrors { code }
              }
            }""",
            id=model_id,
        )
    )["deleteModelAlias"]

    assert set_ == {"model": {"id": model_id, "aliases": {"production": 1}}, "userErrors": []}
    assert user_errors(missing) == [("MODEL_VERSION_NOT_FOUND", ["input", "version"])]
    assert user_errors(bad) == [("VALIDATION_FAILED", ["input", "alias"])]
    assert predicted["userErrors"] == []
    assert predicted["result"]["version"] == 1
    assert len(predicted["result"]["predictions"]) == 3
    assert predicted["result"]["predictions"][0]["label"] in trained.classes
    assert removed == {"model": {"aliases": {}}, "userErrors": []}


async def test_the_inbox_is_marked_read_and_an_unknown_notification_is_a_user_error(
    ada: Phone,
) -> None:
    every = await ada.mutate(
        "mutation { markNotificationsRead(input: {all: true})"
        " { updated unread userErrors { code } } }"
    )
    one = await ada.mutate(
        """mutation($id: ID!) {
          markNotificationRead(input: {id: $id}) { notification { id } userErrors { code field } }
        }""",
        id=str(uuid.uuid4()),
    )

    assert every["markNotificationsRead"] == {"updated": 0, "unread": 0, "userErrors": []}
    assert one["markNotificationRead"]["notification"] is None
    assert user_errors(one["markNotificationRead"]) == [("NOTIFICATION_NOT_FOUND", ["input", "id"])]


async def test_push_tokens_up_to_the_limit_then_too_many_devices(ada: Phone) -> None:
    registered = [
        (await ada.mutate(REGISTER, device=f"phone-{n}", token=f"token-{n:08d}"))[
            "registerPushToken"
        ]
        for n in range(MAX_DEVICES + 1)
    ]

    assert [payload["device"] for payload in registered[:MAX_DEVICES]] == [
        {"deviceId": f"phone-{n}", "platform": "ios"} for n in range(MAX_DEVICES)
    ]
    assert registered[-1]["device"] is None
    assert user_errors(registered[-1]) == [("TOO_MANY_DEVICES", ["input", "deviceId"])]

    gone = await ada.mutate(
        'mutation { unregisterDevice(input: {deviceId: "phone-0"})'
        " { deviceId userErrors { code } } }"
    )
    again = (await ada.mutate(REGISTER, device="phone-9", token="token-00000009"))[
        "registerPushToken"
    ]
    assert gone["unregisterDevice"] == {"deviceId": "phone-0", "userErrors": []}
    assert again["userErrors"] == []


async def test_a_malformed_device_id_is_a_user_error(ada: Phone) -> None:
    data = await ada.mutate(REGISTER, device="no spaces/slashes", token="token-00000001")

    assert user_errors(data["registerPushToken"]) == [("INVALID_DEVICE_ID", ["input", "deviceId"])]


async def test_topics_are_followed_and_unfollowed(ada: Phone) -> None:
    await ada.mutate(REGISTER, device="phone-1", token="token-00000001")
    follow = """
    mutation($topic: String!) {
      followTopic(input: {deviceId: "phone-1", topic: $topic}) {
        subscription { topic deviceId } userErrors { code field }
      }
    }"""

    followed = (await ada.mutate(follow, topic="weekly"))["followTopic"]
    bad = (await ada.mutate(follow, topic="no/slashes"))["followTopic"]
    unfollowed = await ada.mutate(
        """mutation {
          unfollowTopic(input: {deviceId: "phone-1", topic: "weekly"}) {
            deviceId topic userErrors { code }
          }
        }"""
    )

    assert followed == {
        "subscription": {"topic": "weekly", "deviceId": "phone-1"},
        "userErrors": [],
    }
    assert user_errors(bad) == [("VALIDATION_FAILED", ["input", "topic"])]
    assert unfollowed["unfollowTopic"] == {
        "deviceId": "phone-1",
        "topic": "weekly",
        "userErrors": [],
    }


async def test_preferences_take_the_phone_s_timezone_unless_given(ada: Phone) -> None:
    update = """
    mutation($input: NotificationPreferencesInput!) {
      updateNotificationPreferences(input: $input) {
        preferences { timezone quietHours { start end } mutedCategories hourlyCap }
        userErrors { code field }
      }
    }"""
    ada.headers["X-Timezone"] = "Europe/Paris"

    phones = (await ada.mutate(update, input={"quietHours": {"start": "22:00", "end": "07:00"}}))[
        "updateNotificationPreferences"
    ]
    given = (await ada.mutate(update, input={"timezone": "Asia/Tokyo", "hourlyCap": 5}))[
        "updateNotificationPreferences"
    ]
    bad = (await ada.mutate(update, input={"hourlyCap": 0}))["updateNotificationPreferences"]

    assert phones["preferences"] == {
        "timezone": "Europe/Paris",
        "quietHours": {"start": "22:00", "end": "07:00"},
        "mutedCategories": [],
        "hourlyCap": None,
    }
    assert (given["preferences"]["timezone"], given["preferences"]["hourlyCap"]) == (
        "Asia/Tokyo",
        5,
    )
    assert user_errors(bad) == [("VALIDATION_FAILED", ["input", "hourlyCap"])]


async def test_sessions_are_revoked_but_not_another_users(stack: Stack, ada: Phone) -> None:
    tablet = await sign_up_again(stack.client, "tablet")
    bob = await stack.phone("bob@example.com", "bobs-phone")
    revoke = """
    mutation($id: ID!) {
      revokeSession(input: {sessionId: $id}) { sessionId userErrors { code field } }
    }"""
    bobs_session = await session_id_of(bob)
    tablets_session = await session_id_of(Phone(stack.client, tablet, stack))

    theirs = (await ada.mutate(revoke, id=bobs_session))["revokeSession"]
    own = (await ada.mutate(revoke, id=tablets_session))["revokeSession"]

    assert user_errors(theirs) == [("SESSION_NOT_FOUND", ["input", "sessionId"])]
    assert own == {"sessionId": tablets_session, "userErrors": []}
    tablet_now = await stack.client.get("/api/v1/me", headers=bearer(tablet))
    assert tablet_now.json()["error"]["code"] == "SESSION_REVOKED"
    assert (await bob.client.get("/api/v1/me", headers=bearer(bob.tokens))).status_code == 200


async def test_logout_everywhere_ends_every_session(ada: Phone) -> None:
    ended = await ada.mutate("mutation { logoutEverywhere { endedSessions userErrors { code } } }")

    assert ended["logoutEverywhere"] == {"endedSessions": 1, "userErrors": []}
    after = await ada.post("{ viewer { id } }")
    assert after.json()["errors"][0]["extensions"]["code"] == "SESSION_REVOKED"


async def sign_up_again(client: httpx.AsyncClient, device_id: str) -> dict[str, object]:
    """Ada signs in on another device."""
    response = await client.post(
        "/api/v1/auth/login",
        json={"email": "ada@example.com", "password": "correct horse battery"},
        headers={"X-Device-ID": device_id},
    )
    assert response.status_code == 200, response.text
    tokens: dict[str, object] = response.json()
    return tokens


async def session_id_of(phone: Phone) -> str:
    listed = await phone.client.get("/api/v1/sessions", headers=bearer(phone.tokens))
    (current,) = [item for item in listed.json()["items"] if item["current"]]
    return str(current["id"])


async def test_a_mutation_needs_a_signed_in_user(stack: Stack) -> None:
    response = await stack.client.post(
        "/graphql", json={"query": "mutation { logoutEverywhere { endedSessions } }"}
    )

    assert response.json()["errors"][0]["extensions"]["code"] == "AUTH_REQUIRED"


async def test_a_service_down_is_a_graphql_error_not_a_user_error(
    client: httpx.AsyncClient,
) -> None:
    """The BFF alone, its services down."""
    tokens = await sign_up(client)
    job = {"datasetId": str(uuid.uuid4()), "target": "y"}

    response = await client.post(
        "/graphql", json={"query": CREATE_JOB, "variables": {"input": job}}, headers=bearer(tokens)
    )

    body = response.json()
    assert body["data"] is None
    assert body["errors"][0]["path"] == ["createTrainingJob"]
    assert body["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
    assert body["errors"][0]["extensions"]["retry"]["allowed"] is True
