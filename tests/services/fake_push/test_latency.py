"""A slow provider: PUT /_fake/latency holds each answer back, streams answered side by side.

The fake's wait is held by the test (`held_answers`) instead of slept: the tests see which
answers waited, for how long, and what had happened meanwhile, without reading a clock. What
they do while answers are held goes over another connection (httpx reads no answer on an
HTTP/2 connection while earlier streams on it still wait for theirs).
"""

from __future__ import annotations

import asyncio

import httpx
import orjson

from tests.support.held_answers import HeldAnswers
from tests.support.provider_tokens import apns_provider_token, fcm_access_token

PAYLOAD = {"aps": {"alert": {"title": "Model ready"}}}
LATENCY_S = 0.5


def _apns_headers() -> dict[str, str]:
    return {
        "authorization": f"bearer {apns_provider_token()}",
        "apns-topic": "dev.tern.app",
        "apns-push-type": "alert",
    }


async def _push(h2: httpx.AsyncClient, token: str) -> int:
    response = await h2.post(
        f"/3/device/{token}", content=orjson.dumps(PAYLOAD), headers=_apns_headers()
    )
    return response.status_code


async def _fcm_send(h2: httpx.AsyncClient, access_token: str, token: str) -> int:
    response = await h2.post(
        "/v1/projects/tern-dev/messages:send",
        json={"message": {"token": token, "data": {}}},
        headers={"authorization": f"Bearer {access_token}"},
    )
    return response.status_code


async def test_answers_wait_for_the_latency_but_pushes_count_on_arrival(
    h2: httpx.AsyncClient, fake_push_url: str, held_answers: HeldAnswers
) -> None:
    set_to = await h2.put("/_fake/latency", json={"platform": "ios", "seconds": LATENCY_S})
    assert set_to.json() == {"apns": LATENCY_S, "fcm": 0.0}

    pushes = asyncio.gather(*(_push(h2, f"{i:064x}") for i in range(8)))
    # The eight streams are held at the same time (side by side, not in turn), each for the
    # latency set...
    await held_answers.until_held(8)
    assert held_answers.waits == [LATENCY_S] * 8
    # ... and every push is received before any answer is sent: the at-least-once window of
    # a sender.
    async with httpx.AsyncClient(base_url=fake_push_url) as control:
        assert len((await control.get("/_fake/received")).json()) == 8
    assert not pushes.done()

    held_answers.release()
    assert await pushes == [200] * 8


async def test_latency_is_per_provider_and_can_be_lifted(
    h2: httpx.AsyncClient, fake_push_url: str, held_answers: HeldAnswers
) -> None:
    await h2.put("/_fake/latency", json={"platform": "android", "seconds": LATENCY_S})
    access_token = await fcm_access_token(h2)
    sent = asyncio.create_task(_fcm_send(h2, access_token, "fcm-slow-1"))
    await held_answers.until_held(1)
    assert held_answers.waits == [LATENCY_S]  # FCM waits...
    # ... while APNs answers without waiting (a held APNs answer would never come back).
    async with httpx.AsyncClient(base_url=fake_push_url, http1=False, http2=True) as apns:
        assert await asyncio.wait_for(_push(apns, "ab" * 32), timeout=10) == 200
    assert held_answers.waits == [LATENCY_S]
    assert not sent.done()
    held_answers.release()
    assert await sent == 200

    lifted = await h2.put("/_fake/latency", json={"seconds": 0})
    assert lifted.json() == {"apns": 0.0, "fcm": 0.0}
    assert (await h2.get("/_fake/latency")).json() == {"apns": 0.0, "fcm": 0.0}
    assert await _fcm_send(h2, access_token, "fcm-fast-1") == 200
    assert held_answers.waits == [LATENCY_S]  # lifted: that answer did not wait at all
    refused = await h2.put("/_fake/latency", json={"seconds": -1})
    assert refused.status_code == 422
