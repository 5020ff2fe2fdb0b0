"""Safelists (trusted documents) per app version: an operator uploads a build's documents
through the admin API (checked against the schema, scoped, audited); that platform and version
then runs only those, sent whole or by APQ hash (no registration needed), over HTTP and over
WebSocket; other versions and platforms run anything. The CLI uploads `.graphql` files."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import orjson
import pytest

from bff.admin import cli
from bff.admin.context import AdminContext
from bff.app import create_app
from tests.bff.admin.conftest import Admin
from tests.support.apps import running_app
from tests.support.bff_accounts import bearer, bff_settings, sign_up
from tests.support.servers import serve_app

VIEWER = "query Viewer { viewer { id email } }"
VIEWER_ID = "query ViewerId { viewer { id } }"
CHANGES = "subscription Changes { changes { service version } }"
UNLISTED = "{ viewer { email } }"
SAFELIST = "/admin/v1/graphql/safelists"
IOS_230 = {"X-Platform": "ios", "X-App-Version": "2.3.0"}
IOS_220 = {"X-Platform": "ios", "X-App-Version": "2.2.0"}
ANDROID_230 = {"X-Platform": "android", "X-App-Version": "2.3.0"}


def sha256(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


def persisted(document: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha256(document)}}


@pytest.fixture
async def admin(tmp_path: Path) -> AsyncIterator[Admin]:
    app = create_app(bff_settings(tmp_path, graphql_safelist_max_documents=5))
    async with running_app(app) as client:
        yield Admin(client, app.state.admin)


async def upload(admin: Admin, platform: str, version: str, *documents: str) -> httpx.Response:
    token = await admin.token(["config:write"])
    return await admin.client.put(
        f"{SAFELIST}/{platform}/{version}", json={"documents": list(documents)}, headers=token
    )


async def run(
    client: httpx.AsyncClient, user: dict[str, Any], phone: dict[str, str], **body: Any
) -> dict[str, Any]:
    response = await client.post("/graphql", json=body, headers={**bearer(user), **phone})
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def code_of(answer: dict[str, Any]) -> str:
    [error] = answer["errors"]
    code: str = error["extensions"]["code"]
    return code


async def test_a_safelisted_version_runs_its_documents_and_only_those(admin: Admin) -> None:
    user = await sign_up(admin.client)
    uploaded = await upload(admin, "ios", "2.3.0", VIEWER, VIEWER_ID, CHANGES)
    assert uploaded.status_code == 200, uploaded.text
    assert uploaded.json()["document_count"] == 3

    listed = await run(admin.client, user, IOS_230, query=VIEWER)
    refused = await run(admin.client, user, IOS_230, query=UNLISTED)

    assert listed["data"]["viewer"]["email"] == "ada@example.com"
    assert "data" not in refused
    [error] = refused["errors"]
    assert error["extensions"]["code"] == "OPERATION_NOT_SAFELISTED"
    assert error["extensions"]["action"] == "update_app"
    assert error["extensions"]["retry"] == {"allowed": False, "after_seconds": None}
    # The document is matched by its exact text: the same query spelled otherwise is another.
    respelled = await run(admin.client, user, IOS_230, query=VIEWER + " ")
    assert code_of(respelled) == "OPERATION_NOT_SAFELISTED"
    # Over GET too (and the refusal is no answer to keep).
    get = await admin.client.get(
        "/graphql", params={"query": UNLISTED}, headers={**bearer(user), **IOS_230}
    )
    assert code_of(get.json()) == "OPERATION_NOT_SAFELISTED"
    # And a subscription over SSE (graphql-sse) before its stream opens.
    sse = await admin.client.post(
        "/graphql",
        json={"query": "subscription { changes { service } }"},
        headers={**bearer(user), **IOS_230, "accept": "text/event-stream"},
    )
    assert code_of(sse.json()) == "OPERATION_NOT_SAFELISTED"
    # Other versions, other platforms and apps that do not say run anything, as before.
    for phone in (IOS_220, ANDROID_230, {"X-Platform": "ios"}, {}):
        other = await run(admin.client, user, phone, query=UNLISTED)
        assert other["data"]["viewer"]["email"] == "ada@example.com", phone


async def test_a_hash_alone_runs_a_safelisted_document_without_registering(
    admin: Admin,
) -> None:
    user = await sign_up(admin.client)
    assert (await upload(admin, "ios", "2.3.0", VIEWER)).status_code == 200
    params = {"extensions": orjson.dumps(persisted(VIEWER)).decode()}

    posted = await run(admin.client, user, IOS_230, extensions=persisted(VIEWER))
    got = await admin.client.get("/graphql", params=params, headers={**bearer(user), **IOS_230})

    assert posted["data"]["viewer"]["email"] == "ada@example.com"
    assert got.status_code == 200 and got.json()["data"]["viewer"]["id"] == user["user"]["id"]
    assert "etag" in got.headers
    # Hash and document together run as well; a wrong pair is still a mismatch.
    both = await run(admin.client, user, IOS_230, query=VIEWER, extensions=persisted(VIEWER))
    assert both["data"]["viewer"]["email"] == "ada@example.com"
    mismatch = await run(admin.client, user, IOS_230, query=VIEWER_ID, extensions=persisted(VIEWER))
    assert code_of(mismatch) == "PERSISTED_QUERY_HASH_MISMATCH"
    # An unknown hash is refused outright (no PERSISTED_QUERY_NOT_FOUND round trip), and an
    # unlisted document sent with its hash is not registered for anyone.
    unknown = await run(admin.client, user, IOS_230, extensions=persisted(UNLISTED))
    assert code_of(unknown) == "OPERATION_NOT_SAFELISTED"
    sent = await run(admin.client, user, IOS_230, query=UNLISTED, extensions=persisted(UNLISTED))
    assert code_of(sent) == "OPERATION_NOT_SAFELISTED"
    elsewhere = await run(admin.client, user, IOS_220, extensions=persisted(UNLISTED))
    assert code_of(elsewhere) == "PERSISTED_QUERY_NOT_FOUND"
    # The safelist registered nothing in APQ either: another version must send its document.
    not_registered = await run(admin.client, user, IOS_220, extensions=persisted(VIEWER))
    assert code_of(not_registered) == "PERSISTED_QUERY_NOT_FOUND"


async def test_invalid_documents_are_refused_at_upload_naming_each(admin: Admin) -> None:
    deep = "{ viewer " + "{ datasets { items { versions { items " * 3 + "{ id }" + " } }" * 6 + " }"
    response = await upload(
        admin, "ios", "2.3.0", VIEWER, "query Bad { viewer { noSuchField } }", "query {", deep
    )

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "SAFELIST_DOCUMENT_INVALID"
    assert error["action"] == "fix_input"
    assert error["message"].startswith("document 1 (Bad), sha256 ")
    problems = error["details"]["documents"]
    assert [problem["index"] for problem in problems] == [1, 2, 3]
    assert problems[0]["operations"] == ["Bad"]
    assert problems[0]["sha256"] == sha256("query Bad { viewer { noSuchField } }")
    assert "noSuchField" in problems[0]["errors"][0]
    assert "Syntax Error" in problems[1]["errors"][0]
    assert "exceeds maximum operation depth" in problems[2]["errors"][0]
    assert error["details"]["invalid"] == 3
    # Nothing was stored: the version still runs anything.
    token = await admin.token(["config:read"])
    assert (await admin.client.get(f"{SAFELIST}/ios/2.3.0", headers=token)).status_code == 404

    six = [f"query Q{i} {{ viewer {{ id }} }}" for i in range(6)]
    limits = [
        await upload(admin, "ios", "2.3.0", *six),
        await upload(admin, "ios", "2.3.0", "query Big { viewer { id } }" + " " * 40_000),
        await upload(admin, "ios", "2.3.0", "fragment F on Viewer { id }"),
        await upload(admin, "windows", "2.3.0", VIEWER),
        await upload(admin, "ios", "latest", VIEWER),
    ]
    codes = [r.json()["error"]["code"] for r in limits]
    assert codes == [
        "TOO_MANY_DOCUMENTS",
        "SAFELIST_DOCUMENT_INVALID",
        "SAFELIST_DOCUMENT_INVALID",
        "UNKNOWN_PLATFORM",
        "INVALID_VERSION",
    ]
    [too_big] = limits[1].json()["error"]["details"]["documents"]
    assert "over the limit of 32768" in too_big["errors"][0]
    assert all(r.status_code == 422 for r in limits)
    outcomes = [entry["outcome"] for entry in await admin.audit(action="safelist.set")]
    assert outcomes == [*reversed(codes), "SAFELIST_DOCUMENT_INVALID"]


async def test_scopes_audit_replacing_listing_and_lifting(admin: Admin) -> None:
    user = await sign_up(admin.client)
    reader = await admin.token(["config:read"])
    writer = await admin.token(["config:write"])
    body = {"documents": [VIEWER]}

    forbidden = await admin.client.put(f"{SAFELIST}/ios/2.3.0", json=body, headers=reader)
    no_token = await admin.client.get(f"{SAFELIST}/ios/2.3.0", headers=bearer(user))
    first = await admin.client.put(f"{SAFELIST}/ios/2.3.0", json=body, headers=writer)
    unread = await admin.client.get(f"{SAFELIST}/ios/2.3.0", headers=writer)
    assert forbidden.status_code == 403
    assert forbidden.json()["error"]["code"] == "FORBIDDEN_SCOPE"
    assert no_token.status_code == 401
    assert first.status_code == 200 and first.json()["added"] == 1
    assert unread.status_code == 403  # reading needs config:read
    assert code_of(await run(admin.client, user, IOS_230, query=VIEWER_ID)) == (
        "OPERATION_NOT_SAFELISTED"
    )

    # A new upload replaces the version's list, on this replica at once.
    second = await admin.client.put(
        f"{SAFELIST}/ios/2.3.0", json={"documents": [VIEWER_ID, CHANGES, VIEWER_ID]}, headers=writer
    )
    assert second.status_code == 200, second.text
    assert (second.json()["added"], second.json()["removed"]) == (2, 1)
    assert second.json()["document_count"] == 2  # the same document twice is once
    assert second.json()["previous_digest"] == first.json()["digest"]
    assert second.json()["uploaded_by"] == "test"
    ran = await run(admin.client, user, IOS_230, query=VIEWER_ID)
    assert ran["data"]["viewer"]["id"] == user["user"]["id"]
    assert code_of(await run(admin.client, user, IOS_230, query=VIEWER)) == (
        "OPERATION_NOT_SAFELISTED"
    )

    listed = await admin.client.get(f"{SAFELIST}/ios/2.3.0", headers=reader)
    assert listed.status_code == 200
    documents = listed.json()["documents"]
    assert sorted(d["sha256"] for d in documents) == sorted([sha256(VIEWER_ID), sha256(CHANGES)])
    assert {d["sha256"]: d["operations"] for d in documents}[sha256(CHANGES)] == ["Changes"]
    await upload(admin, "android", "2.3.0", VIEWER)
    every = await admin.client.get(SAFELIST, headers=reader, params={"limit": 1})
    assert [item["platform"] for item in every.json()["items"]] == ["android"]
    rest = await admin.client.get(
        SAFELIST, headers=reader, params={"cursor": every.json()["next_cursor"]}
    )
    assert [(i["platform"], i["app_version"]) for i in rest.json()["items"]] == [("ios", "2.3.0")]

    lifted = await admin.client.delete(f"{SAFELIST}/ios/2.3.0", headers=writer)
    again = await admin.client.delete(f"{SAFELIST}/ios/2.3.0", headers=writer)
    assert lifted.status_code == 204
    assert again.status_code == 404 and again.json()["error"]["code"] == "SAFELIST_NOT_FOUND"
    anything = await run(admin.client, user, IOS_230, query=UNLISTED)
    assert anything["data"]["viewer"]["email"] == "ada@example.com"

    entries = await admin.audit()
    written = [
        (e["action"], e["target"], e["outcome"])
        for e in entries
        if e["action"].startswith("safelist.")
    ]
    assert written == [
        ("safelist.delete", "ios/2.3.0", "SAFELIST_NOT_FOUND"),
        ("safelist.delete", "ios/2.3.0", "ok"),
        ("safelist.set", "android/2.3.0", "ok"),
        ("safelist.set", "ios/2.3.0", "ok"),
        ("safelist.set", "ios/2.3.0", "ok"),
        ("safelist.set", "/admin/v1/graphql/safelists/ios/2.3.0", "FORBIDDEN_SCOPE"),
    ]
    replaced = next(e for e in entries if (e["details"] or {}).get("removed"))
    assert replaced["details"] == {
        "documents": 3,
        "digest": second.json()["digest"],
        "previous_digest": first.json()["digest"],
        "added": 2,
        "removed": 1,
    }
    assert replaced["token_name"] == "test"


async def test_websocket_operations_are_held_to_the_safelist(tmp_path: Path) -> None:
    app = create_app(bff_settings(tmp_path))
    async with serve_app(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        bff = Admin(client, app.state.admin)
        user = await sign_up(client)
        assert (await upload(bff, "ios", "2.3.0", VIEWER, CHANGES)).status_code == 200

        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(
                url + "/graphql", protocols=("graphql-transport-ws",), headers=IOS_230
            ) as ws,
        ):
            init = {"authorization": f"Bearer {user['access_token']}"}
            await ws.send_json({"type": "connection_init", "payload": init})
            assert (await _receive(ws))["type"] == "connection_ack"

            await ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": UNLISTED}})
            refused = await _receive(ws)
            assert (refused["id"], refused["type"]) == ("1", "error")
            assert refused["payload"][0]["extensions"]["code"] == "OPERATION_NOT_SAFELISTED"

            # A listed document runs, also named by its hash alone; the socket stays open.
            by_hash = {"id": "2", "type": "subscribe", "payload": {"extensions": persisted(VIEWER)}}
            await ws.send_json(by_hash)
            ran = await _receive(ws)
            assert (ran["id"], ran["type"]) == ("2", "next")
            assert ran["payload"]["data"]["viewer"]["email"] == "ada@example.com"
            assert await _receive(ws) == {"id": "2", "type": "complete"}


async def _receive(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    message = await ws.receive(timeout=10)
    assert message.type == aiohttp.WSMsgType.TEXT, message
    data: dict[str, Any] = orjson.loads(message.data)
    return data


async def test_the_cli_uploads_graphql_files_and_a_manifest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = tmp_path / "graphql"
    files.mkdir()
    (files / "Viewer.graphql").write_text(VIEWER)
    (files / "Broken.graphql").write_text("query Broken { viewer { nope } }")
    manifest = {
        "format": "apollo-persisted-query-manifest",
        "version": 1,
        "operations": [
            {"id": sha256(CHANGES), "name": "Changes", "type": "subscription", "body": CHANGES}
        ],
    }
    (files / "manifest.json").write_text(orjson.dumps(manifest).decode())
    app = create_app(bff_settings(tmp_path / "bff"))
    async with serve_app(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        context: AdminContext = app.state.admin
        minted = await context.tokens.mint(
            "ci", ["config:write", "config:read"], timedelta(hours=1)
        )
        token = minted.secret
        base = ["--url", url, "--token", token, "safelist"]

        refused = await asyncio.to_thread(
            cli.main, [*base, "upload", "ios", "2.3.0", *map(str, sorted(files.iterdir()))]
        )
        refusal = capsys.readouterr().err
        chosen = [str(files / "Viewer.graphql"), str(files / "manifest.json")]
        done = await asyncio.to_thread(cli.main, [*base, "upload", "ios", "2.3.0", *chosen])
        uploaded = capsys.readouterr().out
        shown = await asyncio.to_thread(cli.main, [*base, "show", "ios", "2.3.0"])
        listing = capsys.readouterr().out
        user = await sign_up(client)
        ran = await run(client, user, IOS_230, query=VIEWER)
        refused_query = await run(client, user, IOS_230, query=VIEWER_ID)

    assert refused == 1
    assert "422 SAFELIST_DOCUMENT_INVALID" in refusal
    assert f"{files / 'Broken.graphql'}: Cannot query field 'nope'" in refusal
    assert done == 0
    assert "safelist ios 2.3.0: 2 documents (+2 -0)" in uploaded
    assert shown == 0
    assert sha256(VIEWER) in listing and "Changes" in listing
    assert ran["data"]["viewer"]["email"] == "ada@example.com"
    assert code_of(refused_query) == "OPERATION_NOT_SAFELISTED"
