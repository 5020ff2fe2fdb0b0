"""The push providers' HTTP/2 client against the real fake provider and against bad servers."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import jwt
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from services.fake_push.app import create_app as create_fake_push
from services.fake_push.settings import FakePushSettings
from services.notifications.provider_http2 import ProviderHttp2Client, ProviderUnreachable
from tests.support.servers import free_port, serve_app
from tests.support.settings import make_settings

PAYLOAD = orjson.dumps({"aps": {"alert": {"title": "Model ready"}}})
_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_EMPTY_SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"  # a SETTINGS frame, no settings


def _apns_headers() -> dict[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    token = jwt.encode(
        {"iss": "TEAM123456", "iat": int(time.time())},
        key,
        algorithm="ES256",
        headers={"kid": "KEY1234567"},
    )
    return {
        "authorization": f"bearer {token}",
        "apns-topic": "dev.tern.app",
        "apns-push-type": "alert",
        "content-type": "application/json",
    }


@asynccontextmanager
async def _fake_push(tmp_path: Path, port: int | None = None) -> AsyncIterator[str]:
    fake = create_fake_push(make_settings(FakePushSettings, tmp_path))
    async with serve_app(fake, port=port) as url:
        yield url


async def test_many_pushes_share_a_few_connections_and_all_arrive(tmp_path: Path) -> None:
    async with _fake_push(tmp_path) as url:
        client = ProviderHttp2Client(url, timeout_s=10, connections=2)
        headers = _apns_headers()
        tokens = [f"{i:064x}" for i in range(300)]
        try:
            answers = await asyncio.gather(
                *(
                    client.post(
                        f"/3/device/{token}", {**headers, "apns-id": str(uuid.uuid4())}, PAYLOAD
                    )
                    for token in tokens
                )
            )
        finally:
            await client.aclose()
        async with httpx.AsyncClient(base_url=url) as control:
            received = (await control.get("/_fake/received")).json()
    assert {answer.status for answer in answers} == {200}
    assert all(answer.body == b"" and "apns-id" in answer.headers for answer in answers)
    assert sorted(push["token"] for push in received) == sorted(tokens)
    assert {push["http_version"] for push in received} == {"2"}


async def test_error_answers_carry_the_providers_json(tmp_path: Path) -> None:
    async with _fake_push(tmp_path) as url:
        client = ProviderHttp2Client(url, timeout_s=10)
        try:
            answer = await client.post("/3/device/invalid-abc", _apns_headers(), PAYLOAD)
        finally:
            await client.aclose()
    assert answer.status == 410
    assert answer.json()["reason"] == "Unregistered"


async def test_a_provider_that_is_down_then_back_is_reached_again(tmp_path: Path) -> None:
    port = free_port()
    client = ProviderHttp2Client(f"http://127.0.0.1:{port}", timeout_s=5)
    try:
        with pytest.raises(ProviderUnreachable) as refused:
            await client.post("/3/device/" + "ab" * 32, _apns_headers(), PAYLOAD)
        assert refused.value.reason == "TRANSPORT_CONNECTION_FAILED"
        async with _fake_push(tmp_path, port=port):
            answer = await client.post("/3/device/" + "ab" * 32, _apns_headers(), PAYLOAD)
        assert answer.status == 200
    finally:
        await client.aclose()


async def test_a_dropped_connection_fails_the_pushes_in_flight() -> None:
    async def accept_then_drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(_EMPTY_SETTINGS)  # the HTTP/2 handshake completes: the push goes out
        await reader.readexactly(len(_PREFACE))
        await reader.read(1024)  # the client's settings, its ack and the push
        writer.close()

    async with _client_of_raw_server(accept_then_drop, timeout_s=5) as client:
        with pytest.raises(ProviderUnreachable) as dropped:
            await client.post("/3/device/" + "ab" * 32, _apns_headers(), PAYLOAD)
    assert dropped.value.reason in {"TRANSPORT_CONNECTION_FAILED", "TRANSPORT_CLOSED"}


async def test_a_provider_that_never_answers_times_out() -> None:
    async def accept_and_stay_silent(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while await reader.read(1024):
            pass
        writer.close()

    async with _client_of_raw_server(accept_and_stay_silent, timeout_s=0.3) as client:
        with pytest.raises(ProviderUnreachable) as silent:
            await client.post("/3/device/" + "ab" * 32, _apns_headers(), PAYLOAD)
    assert silent.value.reason == "TRANSPORT_TIMEOUT"


@asynccontextmanager
async def _client_of_raw_server(
    handler: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
    timeout_s: float,
) -> AsyncIterator[ProviderHttp2Client]:
    """A client of a bare TCP server that misbehaves as `handler` says (barely HTTP/2)."""
    connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        connections[task] = writer
        try:
            await handler(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = ProviderHttp2Client(f"http://127.0.0.1:{port}", timeout_s=timeout_s)
    try:
        yield client
    finally:
        await client.aclose()
        server.close()
        for writer in connections.values():  # the client may not have hung up yet
            writer.close()
        if connections:
            await asyncio.wait(connections, timeout=5)
        await server.wait_closed()
