"""A slow provider: PUT /_fake/latency holds each answer back, streams answered side by side."""

from __future__ import annotations

import asyncio
import time

import httpx
import orjson

from tests.support.provider_tokens import apns_provider_token, fcm_access_token

PAYLOAD = {"aps": {"alert": {"title": "Model ready"}}}
LATENCY_S = 0.5


def _apns_headers() -> dict[str, str]:
    return {
        "authorization": f"bearer {apns_provider_token()}",
        "apns-topic": "dev.tern.app",
        "apns-push-type": "alert",
    }


async def _push(h2: httpx.AsyncClient, token: str) -> tuple[int, float]:
    started = time.monotonic()
    response = await h2.post(
        f"/3/device/{token}", content=orjson.dumps(PAYLOAD), headers=_apns_headers()
    )
    return response.status_code, time.monotonic() - started


async def test_answers_wait_for_the_latency_but_pushes_count_on_arrival(
    h2: httpx.AsyncClient,
) -> None:
    set_to = await h2.put("/_fake/latency", json={"platform": "ios", "seconds": LATENCY_S})
    assert set_to.json() == {"apns": LATENCY_S, "fcm": 0.0}

    started = time.monotonic()
    pushes = asyncio.gather(*(_push(h2, f"{i:064x}") for i in range(8)))
    # Every push is received before any answer is sent: the at-least-once window of a sender.
    while len((await h2.get("/_fake/received")).json()) < 8:
        assert time.monotonic() - started < LATENCY_S, "pushes were recorded only on answer"
        await asyncio.sleep(0.01)
    answers = await pushes
    elapsed = time.monotonic() - started

    assert [status for status, _ in answers] == [200] * 8
    assert min(took for _, took in answers) >= LATENCY_S
    assert elapsed < 3 * LATENCY_S  # the eight streams waited side by side, not in turn


async def test_latency_is_per_provider_and_can_be_lifted(h2: httpx.AsyncClient) -> None:
    await h2.put("/_fake/latency", json={"platform": "android", "seconds": LATENCY_S})
    assert (await _push(h2, "ab" * 32))[1] < LATENCY_S  # APNs still answers at once

    access_token = await fcm_access_token(h2)
    started = time.monotonic()
    sent = await h2.post(
        "/v1/projects/tern-dev/messages:send",
        json={"message": {"token": "fcm-slow-1", "data": {}}},
        headers={"authorization": f"Bearer {access_token}"},
    )
    assert sent.status_code == 200
    assert time.monotonic() - started >= LATENCY_S

    lifted = await h2.put("/_fake/latency", json={"seconds": 0})
    assert lifted.json() == {"apns": 0.0, "fcm": 0.0}
    assert (await h2.get("/_fake/latency")).json() == {"apns": 0.0, "fcm": 0.0}
    refused = await h2.put("/_fake/latency", json={"seconds": -1})
    assert refused.status_code == 422
