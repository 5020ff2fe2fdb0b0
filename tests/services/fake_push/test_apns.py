"""The fake APNs answers over h2c the way Apple does, and records what it accepted."""

from __future__ import annotations

import asyncio
import time
import uuid
from urllib.parse import urlsplit

import h2.config
import h2.connection
import h2.events
import httpx
import orjson

from tests.support.provider_tokens import apns_provider_token

TOKEN = "a1b2c3d4" * 8
PAYLOAD = {"aps": {"alert": {"title": "Model ready", "body": "Churn v3"}}, "model_id": "m-1"}


def _headers(**extra: str) -> dict[str, str]:
    return {
        "authorization": f"bearer {apns_provider_token()}",
        "apns-topic": "dev.tern.app",
        "apns-push-type": "alert",
        "apns-priority": "10",
        "apns-expiration": "0",
        **extra,
    }


async def test_accepted_push_is_recorded_with_its_headers_over_http2(
    h2: httpx.AsyncClient,
) -> None:
    apns_id = str(uuid.uuid4()).upper()
    response = await h2.post(
        f"/3/device/{TOKEN}",
        content=orjson.dumps(PAYLOAD),
        headers=_headers(**{"apns-id": apns_id, "apns-collapse-id": "model-m-1"}),
    )
    assert response.http_version == "HTTP/2"
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["apns-id"] == apns_id

    received = (await h2.get("/_fake/received", params={"platform": "ios"})).json()
    assert len(received) == 1
    assert received[0]["token"] == TOKEN
    assert received[0]["payload"] == PAYLOAD
    assert received[0]["http_version"] == "2"
    assert received[0]["headers"]["apns-collapse-id"] == "model-m-1"
    assert received[0]["headers"]["apns-topic"] == "dev.tern.app"


async def test_a_200_is_one_headers_frame_with_end_stream_and_no_data_frame(
    fake_push_url: str,
) -> None:
    events = await _raw_h2_post(
        fake_push_url, f"/3/device/{TOKEN}", _headers(), orjson.dumps(PAYLOAD)
    )
    responses = [e for e in events if isinstance(e, h2.events.ResponseReceived)]
    assert len(responses) == 1
    assert dict(responses[0].headers)[b":status"] == b"200"
    assert responses[0].stream_ended is not None
    assert not [e for e in events if isinstance(e, h2.events.DataReceived)]


async def test_errors_carry_apple_reasons(h2: httpx.AsyncClient) -> None:
    body = orjson.dumps(PAYLOAD)
    cases = [
        (
            {k: v for k, v in _headers().items() if k != "authorization"},
            403,
            "MissingProviderToken",
        ),
        (_headers(authorization="bearer not-a-jwt"), 403, "InvalidProviderToken"),
        (
            _headers(authorization=f"bearer {apns_provider_token(int(time.time()) - 7200)}"),
            403,
            "ExpiredProviderToken",
        ),
        ({k: v for k, v in _headers().items() if k != "apns-topic"}, 400, "MissingTopic"),
        (_headers(**{"apns-push-type": "background"}), 400, "BadPriority"),
    ]
    for headers, status, reason in cases:
        response = await h2.post(f"/3/device/{TOKEN}", content=body, headers=headers)
        assert (response.status_code, response.json()["reason"]) == (status, reason)
    too_big = orjson.dumps({"aps": {"alert": "x" * 4100}})
    response = await h2.post(f"/3/device/{TOKEN}", content=too_big, headers=_headers())
    assert (response.status_code, response.json()) == (413, {"reason": "PayloadTooLarge"})
    assert (await h2.get("/_fake/received")).json() == []


async def test_invalid_tokens_are_unregistered_with_a_timestamp(h2: httpx.AsyncClient) -> None:
    response = await h2.post(
        "/3/device/invalid-abc", content=orjson.dumps(PAYLOAD), headers=_headers()
    )
    assert response.status_code == 410
    assert response.json()["reason"] == "Unregistered"
    assert abs(response.json()["timestamp"] - time.time() * 1000) < 60_000


async def test_injected_failures_apply_to_the_next_requests_only(h2: httpx.AsyncClient) -> None:
    injected = await h2.post(
        "/_fake/failures",
        json={
            "platform": "apns",
            "status": 429,
            "reason": "TooManyRequests",
            "count": 2,
            "retry_after": 3,
        },
    )
    assert injected.status_code == 201
    statuses = []
    for _ in range(3):
        response = await h2.post(
            f"/3/device/{TOKEN}", content=orjson.dumps(PAYLOAD), headers=_headers()
        )
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert response.headers["retry-after"] == "3"
            assert response.json() == {"reason": "TooManyRequests"}
    assert statuses == [429, 429, 200]
    assert len((await h2.get("/_fake/received")).json()) == 1
    assert (await h2.delete("/_fake/received")).status_code == 204
    assert (await h2.get("/_fake/received")).json() == []


async def _raw_h2_post(
    base_url: str, path: str, headers: dict[str, str], body: bytes
) -> list[h2.events.Event]:
    """Speak HTTP/2 frame by frame, to see exactly which frames the server sends."""
    url = urlsplit(base_url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    request_headers = [
        (":method", "POST"),
        (":scheme", "http"),
        (":authority", url.netloc),
        (":path", path),
        *headers.items(),
        ("content-length", str(len(body))),
    ]
    conn.send_headers(1, request_headers)
    conn.send_data(1, body, end_stream=True)
    writer.write(conn.data_to_send())
    events: list[h2.events.Event] = []
    try:
        while not any(isinstance(e, h2.events.StreamEnded) for e in events):
            data = await asyncio.wait_for(reader.read(65_535), timeout=5)
            assert data, "connection closed before the stream ended"
            events.extend(conn.receive_data(data))
            writer.write(conn.data_to_send())
    finally:
        writer.close()
        await writer.wait_closed()
    return events
