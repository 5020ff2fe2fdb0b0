"""GraphQL subscriptions over graphql-transport-ws and graphql-sse: sign-in on connection_init,
revocation ends the stream, one user never hears another's changes, limits per connection and
per user; the inbox read from the notifications feed and a job's progress from training. The
BFF serves on loopback (WebSockets need a real server)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import orjson
import pytest
from fastapi import FastAPI, Request

from bff.app import create_app
from bff.graphql.subscriptions import HUB_STATE
from bff.graphql.subscriptions.hub import SubscriptionHub
from services.kit.clock import utc_now
from services.kit.database import Database
from services.training import job_queue
from services.training.app import create_app as create_training_app
from tests.support.bff_accounts import PASSWORD, bearer, bff_settings, sign_up
from tests.support.polling import eventually
from tests.support.servers import serve_app
from tests.support.training_setup import new_job, training_settings

CHANGES = "subscription { changes { service version } }"
PROTOCOL = "graphql-transport-ws"


@dataclass
class Bff:
    url: str
    client: httpx.AsyncClient
    app: FastAPI

    @property
    def hub(self) -> SubscriptionHub:
        hub: SubscriptionHub = getattr(self.app.state, HUB_STATE)
        return hub


@asynccontextmanager
async def serving_bff(data_dir: Path, **overrides: Any) -> AsyncIterator[Bff]:
    app = create_app(bff_settings(data_dir, **overrides))
    async with serve_app(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        yield Bff(url, client, app)


@asynccontextmanager
async def socket(
    bff: Bff, token: str | None, protocol: str = PROTOCOL
) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    """A graphql-transport-ws connection, initialised with `token` (acknowledged or not)."""
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(bff.url + "/graphql", protocols=(protocol,)) as ws,
    ):
        payload = {} if token is None else {"authorization": f"Bearer {token}"}
        await ws.send_json({"type": "connection_init", "payload": payload})
        yield ws


async def receive(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    message = await ws.receive(timeout=10)
    assert message.type == aiohttp.WSMsgType.TEXT, message
    data: dict[str, Any] = orjson.loads(message.data)
    return data


async def acknowledged(ws: aiohttp.ClientWebSocketResponse) -> None:
    assert await receive(ws) == {"type": "connection_ack"}


async def subscribe(ws: aiohttp.ClientWebSocketResponse, op_id: str, query: str) -> None:
    await ws.send_json({"id": op_id, "type": "subscribe", "payload": {"query": query}})


async def sign_in(bff: Bff, device_id: str, email: str = "ada@example.com") -> dict[str, Any]:
    response = await bff.client.post(
        "/api/v1/auth/login",
        json={"email": email, "password": PASSWORD},
        headers={"X-Device-ID": device_id},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def subscribed(bff: Bff, user_id: str, count: int = 1) -> None:
    """Wait until the hub holds `count` subscriptions of the user (the resolver has run)."""

    async def held() -> bool:
        return bff.hub.open_count(user_id) == count

    await eventually(held)


async def test_a_websocket_upgrade_needs_a_token_in_connection_init(tmp_path: Path) -> None:
    async with serving_bff(tmp_path) as bff:
        async with socket(bff, None) as ws:
            closed = await ws.receive(timeout=10)
            assert closed.type == aiohttp.WSMsgType.CLOSE
            assert (closed.data, closed.extra) == (4403, "AUTH_REQUIRED")

        async with socket(bff, "not-a-token") as ws:
            closed = await ws.receive(timeout=10)
            assert (closed.data, closed.extra) == (4403, "TOKEN_INVALID")


async def test_changes_tell_the_user_of_their_sessions_and_nobody_else(tmp_path: Path) -> None:
    async with serving_bff(tmp_path) as bff:
        ada = await sign_up(bff.client, "ada@example.com")
        bob = await sign_up(bff.client, "bob@example.com")
        async with (
            socket(bff, ada["access_token"]) as ada_ws,
            socket(bff, bob["access_token"]) as bob_ws,
        ):
            await acknowledged(ada_ws)
            await acknowledged(bob_ws)
            await subscribe(ada_ws, "a", CHANGES)
            await subscribe(bob_ws, "b", CHANGES)
            await subscribed(bff, ada["user"]["id"])
            await subscribed(bff, bob["user"]["id"])

            await sign_in(bff, "ada-tablet")  # a new session of Ada's: her BFF feed moves on

            message = await receive(ada_ws)
            assert message["id"] == "a" and message["type"] == "next"
            change = message["payload"]["data"]["changes"]
            assert change["service"] == "bff" and change["version"] >= 2
            assert message["payload"]["extensions"]["cost"]["requested"] == 1
            # Bob hears nothing of Ada's change.
            with pytest.raises(TimeoutError):
                await bob_ws.receive(timeout=0.5)


async def test_revoking_the_session_ends_each_stream_with_its_code(tmp_path: Path) -> None:
    async with serving_bff(tmp_path) as bff:
        ada = await sign_up(bff.client)
        async with socket(bff, ada["access_token"]) as ws:
            await acknowledged(ws)
            await subscribe(ws, "1", CHANGES)
            await subscribed(bff, ada["user"]["id"])

            logout = await bff.client.post("/api/v1/auth/logout", headers=bearer(ada))
            assert logout.status_code == 204

            messages = [await receive(ws)]
            while messages[-1]["type"] == "next" and "errors" not in messages[-1]["payload"]:
                messages.append(await receive(ws))  # the session change itself may come first
            error = messages[-1]["payload"]["errors"][0]
            assert error["extensions"]["code"] == "SESSION_REVOKED"
            assert error["extensions"]["action"] == "sign_in"
            assert await receive(ws) == {"id": "1", "type": "complete"}
            await subscribed(bff, ada["user"]["id"], 0)


async def test_subscriptions_are_limited_per_connection_and_per_user(tmp_path: Path) -> None:
    limits = {"graphql_subscriptions_per_connection": 2, "graphql_subscriptions_per_user": 3}
    async with serving_bff(tmp_path, **limits) as bff:
        ada = await sign_up(bff.client)
        user_id = ada["user"]["id"]
        async with (
            socket(bff, ada["access_token"]) as first,
            socket(bff, ada["access_token"]) as second,
        ):
            await acknowledged(first)
            await acknowledged(second)
            await subscribe(first, "1", CHANGES)
            await subscribe(first, "2", CHANGES)
            await subscribed(bff, user_id, 2)

            await subscribe(first, "3", CHANGES)
            refused = await receive(first)
            assert refused["id"] == "3" and refused["type"] == "error"
            extensions = refused["payload"][0]["extensions"]
            assert extensions["code"] == "TOO_MANY_SUBSCRIPTIONS"
            assert extensions["details"] == {"limit": 2, "scope": "connection"}

            await subscribe(second, "1", CHANGES)
            await subscribed(bff, user_id, 3)
            await subscribe(second, "2", CHANGES)
            refused = await receive(second)
            assert refused["payload"]["errors"][0]["extensions"]["code"] == "TOO_MANY_SUBSCRIPTIONS"
            assert refused["payload"]["errors"][0]["extensions"]["details"]["scope"] == "user"
            assert await receive(second) == {"id": "2", "type": "complete"}

            # Completing one frees its place.
            await first.send_json({"id": "1", "type": "complete"})
            await subscribed(bff, user_id, 2)


async def test_the_per_user_limit_holds_across_replicas_sharing_redis(
    tmp_path: Path, shared_redis: str
) -> None:
    # Two replicas behind one load balancer: one database, one Redis.
    settings = {"graphql_subscriptions_per_user": 2, "redis_url": shared_redis}
    async with (
        serving_bff(tmp_path, **settings) as a,
        serving_bff(tmp_path, **settings) as b,
    ):
        ada = await sign_up(a.client)
        user_id, token = ada["user"]["id"], ada["access_token"]
        async with socket(a, token) as on_a, socket(b, token) as on_b:
            await acknowledged(on_a)
            await acknowledged(on_b)
            await subscribe(on_a, "1", CHANGES)
            await subscribe(on_b, "1", CHANGES)
            await subscribed(a, user_id, 1)
            await subscribed(b, user_id, 1)

            await subscribe(on_a, "2", CHANGES)
            refused = await receive(on_a)
            extensions = refused["payload"]["errors"][0]["extensions"]
            assert (extensions["code"], extensions["details"]["scope"]) == (
                "TOO_MANY_SUBSCRIPTIONS",
                "user",
            )
            assert await receive(on_a) == {"id": "2", "type": "complete"}

            # Ending one on replica b frees a place on replica a (freed before it is let go).
            await on_b.send_json({"id": "1", "type": "complete"})
            await subscribed(b, user_id, 0)

            async def held_twice() -> bool:
                return a.hub.open_count(user_id) == 2

            await subscribe(on_a, "3", CHANGES)
            await eventually(held_twice)


async def test_sse_streams_changes_to_the_header_token_until_revoked(tmp_path: Path) -> None:
    async with serving_bff(tmp_path) as bff:
        ada = await sign_up(bff.client)
        headers = {**bearer(ada), "accept": "text/event-stream"}
        async with bff.client.stream(
            "POST", "/graphql", json={"query": CHANGES}, headers=headers
        ) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            events = read_sse(stream.aiter_lines())
            await subscribed(bff, ada["user"]["id"])

            await sign_in(bff, "ada-tablet")
            event, data = await anext(events)
            assert event == "next"
            assert data["data"]["changes"]["service"] == "bff"

            await bff.client.post("/api/v1/auth/logout", headers=bearer(ada))
            event, data = await anext(events)
            while "errors" not in data:
                event, data = await anext(events)
            assert data["errors"][0]["extensions"]["code"] == "SESSION_REVOKED"
            assert (await anext(events))[0] == "complete"


async def test_sse_without_a_token_answers_the_auth_error(tmp_path: Path) -> None:
    async with serving_bff(tmp_path) as bff:
        async with bff.client.stream(
            "POST", "/graphql", json={"query": CHANGES}, headers={"accept": "text/event-stream"}
        ) as stream:
            events = read_sse(stream.aiter_lines())
            event, data = await anext(events)
            assert event == "next"
            assert data["errors"][0]["extensions"]["code"] == "AUTH_REQUIRED"
            assert (await anext(events))[0] == "complete"


async def read_sse(lines: AsyncIterator[str]) -> AsyncIterator[tuple[str, Any]]:
    """(event, decoded data) per SSE event; heartbeats skipped."""
    event, data = "", ""
    async with asyncio.timeout(10):
        async for line in lines:
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: "):
                data = line.removeprefix("data: ")
            elif not line and event:
                yield event, (orjson.loads(data) if data else None)
                event, data = "", ""


def fake_notifications(entries: list[dict[str, Any]], calls: list[dict[str, Any]]) -> FastAPI:
    """A notifications service that answers only its change feed: `entries` after `since`."""
    app = FastAPI()

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/internal/v1/feed")
    async def feed(request: Request) -> dict[str, Any]:
        since, limit = int(request.query_params["since"]), int(request.query_params["limit"])
        calls.append({"since": since, "kind": request.query_params.getlist("kind")})
        after = [entry for entry in entries if entry["seq"] > since][:limit]
        last = max((entry["seq"] for entry in entries), default=0)
        return {
            "entries": after,
            "next_since": after[-1]["seq"] if after else since,
            "has_more": len(after) == limit and after[-1]["seq"] < last,
            "last_seq": last,
        }

    return app


def notification_entry(seq: int, read: bool = False) -> dict[str, Any]:
    now = utc_now().isoformat()
    return {
        "seq": seq,
        "kind": "notification",
        "id": f"n{seq}",
        "op": "upsert",
        "at": now,
        "data": {
            "id": f"00000000-0000-0000-0000-{seq:012d}",
            "category": "training",
            "title": f"note {seq}",
            "body": None,
            "data": {},
            "created_at": now,
            "read_at": now if read else None,
        },
    }


async def test_notifications_yield_what_the_feed_holds_after_the_start(tmp_path: Path) -> None:
    entries = [notification_entry(1)]
    calls: list[dict[str, Any]] = []
    async with serve_app(fake_notifications(entries, calls)) as notifications_url:
        async with serving_bff(tmp_path, notifications_url=notifications_url) as bff:
            ada = await sign_up(bff.client)
            user_id = ada["user"]["id"]
            async with socket(bff, ada["access_token"]) as ws:
                await acknowledged(ws)
                await subscribe(ws, "n", "subscription { notifications { title readAt } }")
                await subscribed(bff, user_id)
                await eventually(_called(calls, 1))  # the start: what is there is old

                entries += [notification_entry(2), notification_entry(3, read=True)]
                bff.hub.note("notifications", user_id, 3, None)

                titles = [(await receive(ws))["payload"]["data"]["notifications"] for _ in "ab"]
                assert [t["title"] for t in titles] == ["note 2", "note 3"]
                assert titles[0]["readAt"] is None and titles[1]["readAt"] is not None
                assert calls[-1] == {"since": 1, "kind": ["notification"]}

                # Another user's change reads nothing for Ada.
                bff.hub.note("notifications", "someone-else", 9, None)
                await asyncio.sleep(0.2)
                assert len(calls) == 2


def _called(calls: list[dict[str, Any]], count: int) -> Any:
    async def check() -> bool:
        return len(calls) >= count

    return check


async def test_training_job_streams_progress_then_the_finished_job(tmp_path: Path) -> None:
    settings = training_settings(tmp_path / "training", events_poll_s=0.05)
    async with serve_app(create_training_app(settings)) as training_url:
        db = Database(settings.sqlalchemy_url)
        try:
            async with serving_bff(tmp_path / "bff", training_url=training_url) as bff:
                ada = await sign_up(bff.client)
                job = new_job(
                    owner_id=ada["user"]["id"],
                    status="running",
                    attempts=1,
                    started_at=utc_now(),
                    lease_owner="worker",
                    lease_expires_at=utc_now() + timedelta(minutes=5),
                )
                async with db.transaction() as session:
                    session.add(job)
                step = {
                    "epoch": 1.0,
                    "loss": 0.7,
                    "val_loss": 0.8,
                    "metric": 0.5,
                    "val_metric": 0.4,
                }
                assert await job_queue.append_events(db, job.id, "worker", 1, [step])

                async with socket(bff, ada["access_token"]) as ws:
                    await acknowledged(ws)
                    query = (
                        f'subscription {{ trainingJob(id: "{job.id}") '
                        "{ progress { seq epoch loss } job { id status } } }"
                    )
                    await subscribe(ws, "t", query)
                    first = (await receive(ws))["payload"]["data"]["trainingJob"]
                    assert first == {"progress": {"seq": 1, "epoch": 1.0, "loss": 0.7}, "job": None}

                    assert await job_queue.finish(db, job.id, "worker", "succeeded")
                    last = (await receive(ws))["payload"]["data"]["trainingJob"]
                    assert last["job"] == {"id": str(job.id), "status": "succeeded"}
                    assert await receive(ws) == {"id": "t", "type": "complete"}

                    # Bob cannot follow Ada's job.
                bob = await sign_up(bff.client, "bob@example.com")
                async with socket(bff, bob["access_token"]) as ws:
                    await acknowledged(ws)
                    await subscribe(ws, "t", query)
                    answer = await receive(ws)
                    assert answer["payload"]["errors"][0]["extensions"]["code"] == "JOB_NOT_FOUND"
        finally:
            await db.dispose()
