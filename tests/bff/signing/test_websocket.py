"""A GraphQL WebSocket signs its sign-in (`connection_init`) like any request: a session whose
platform must sign cannot open one unsigned, a wrong or reused signature closes it, and a
signed one runs operations."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import orjson
import pytest

from bff.app import create_app
from bff.graphql.router import FORBIDDEN_CLOSE
from bff.signing.canonical import sign
from tests.bff.signing.conftest import Phone, sign_in, signing_settings
from tests.support.servers import serve_app

PROTOCOLS = ("graphql-transport-ws",)


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[str, httpx.AsyncClient]]:
    async with (
        serve_app(create_app(signing_settings(tmp_path))) as url,
        httpx.AsyncClient(base_url=url, timeout=10) as client,
    ):
        yield url, client


def handshake_signature(phone: Phone, target: str = "/graphql", **options: Any) -> dict[str, str]:
    """The three signature values of a body-less GET of the handshake's target."""
    return sign(
        options.get("key", phone.key),
        "GET",
        target,
        b"",
        options.get("timestamp", int(time.time())),
        options.get("nonce", secrets.token_urlsafe(16)),
    )


async def open_socket(
    url: str, phone: Phone, signature: dict[str, str] | None, *, on_handshake: bool = False
) -> tuple[str, Any]:
    """Open a socket, send connection_init; ("ack", answer to a query) or ("closed", reason)."""
    init: dict[str, Any] = {"authorization": phone.headers()["authorization"]}
    if signature and not on_handshake:
        init |= signature
    headers = signature if signature and on_handshake else None
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(url + "/graphql", protocols=PROTOCOLS, headers=headers) as ws,
    ):
        await ws.send_json({"type": "connection_init", "payload": init})
        first = await ws.receive(timeout=10)
        if first.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
            assert ws.close_code == FORBIDDEN_CLOSE
            return "closed", first.extra
        assert orjson.loads(first.data)["type"] == "connection_ack"
        subscribe = {"query": "{ viewer { email } }"}
        await ws.send_json({"id": "1", "type": "subscribe", "payload": subscribe})
        answer = orjson.loads((await ws.receive(timeout=10)).data)
        return "ack", answer["payload"]["data"]


async def test_a_signed_connection_runs_operations(
    served: tuple[str, httpx.AsyncClient],
) -> None:
    url, client = served
    phone = await sign_in(client)

    in_payload = await open_socket(url, phone, handshake_signature(phone))
    on_handshake = await open_socket(url, phone, handshake_signature(phone), on_handshake=True)

    assert in_payload == ("ack", {"viewer": {"email": "ada@example.com"}})
    assert on_handshake == in_payload


async def test_an_unsigned_connection_is_refused_where_the_platform_must_sign(
    served: tuple[str, httpx.AsyncClient],
) -> None:
    url, client = served
    ios = await sign_in(client)
    android = await sign_in(client, email="bo@example.com", platform="android")

    assert await open_socket(url, ios, None) == ("closed", "SIGNATURE_REQUIRED")
    assert (await open_socket(url, android, None))[0] == "ack"  # Android need not sign


async def test_a_wrong_stale_or_reused_signature_closes_the_connection(
    served: tuple[str, httpx.AsyncClient],
) -> None:
    url, client = served
    phone = await sign_in(client)
    android = await sign_in(client, email="bo@example.com", platform="android")
    used = handshake_signature(phone)
    assert (await open_socket(url, phone, used))[0] == "ack"

    wrong_key = handshake_signature(phone, key=b"k" * 32)
    other_target = handshake_signature(phone, target="/graphql?x=1")
    stale = handshake_signature(phone, timestamp=int(time.time()) - 3600)

    assert await open_socket(url, phone, used) == ("closed", "REQUEST_REPLAYED")
    assert await open_socket(url, phone, wrong_key) == ("closed", "SIGNATURE_INVALID")
    assert await open_socket(url, phone, other_target) == ("closed", "SIGNATURE_INVALID")
    assert await open_socket(url, phone, stale) == ("closed", "REQUEST_EXPIRED")
    # A signature that is sent is checked, also where the platform need not sign.
    bad = handshake_signature(android, key=b"k" * 32)
    assert await open_socket(url, android, bad) == ("closed", "SIGNATURE_INVALID")
