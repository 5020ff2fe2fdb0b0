"""Upload routes check their input before anything reaches the datasets service, and keep the
phone's connection usable when the service fails mid-chunk."""

from pathlib import Path

import httpx

from bff.app import create_app
from tests.support.bff_accounts import bearer, bff_settings, sign_up
from tests.support.servers import serve_app

UPLOAD = "/api/v1/uploads/0b3c0e7a-6f1e-4f7e-9a43-5c1a1c1a1c1a"


async def test_a_chunk_needs_its_checksum(client: httpx.AsyncClient) -> None:
    headers = bearer(await sign_up(client))

    response = await client.put(f"{UPLOAD}/chunks/0", content=b"a,b\n1,2\n", headers=headers)

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "VALIDATION_FAILED"


async def test_a_chunk_goes_to_the_datasets_service(client: httpx.AsyncClient) -> None:
    headers = {**bearer(await sign_up(client)), "X-Chunk-SHA256": "ab" * 32}

    response = await client.put(f"{UPLOAD}/chunks/0", content=b"a,b\n1,2\n", headers=headers)

    assert response.status_code == 503
    assert response.json()["error"]["details"]["service"] == "datasets"


async def test_a_negative_chunk_index_is_refused(client: httpx.AsyncClient) -> None:
    headers = {**bearer(await sign_up(client)), "X-Chunk-SHA256": "ab" * 32}

    response = await client.put(f"{UPLOAD}/chunks/-1", content=b"x", headers=headers)

    assert response.status_code == 422


async def test_after_a_failed_chunk_the_phones_connection_still_works(tmp_path: Path) -> None:
    # Over a real socket: the datasets service is down, so the BFF answers before it has read
    # the chunk. It reads the rest first; else the phone's next request on the same
    # keep-alive connection would never be read.
    async with serve_app(create_app(bff_settings(tmp_path))) as url:
        limits = httpx.Limits(max_connections=1)  # one connection, as a phone would reuse
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=5.0) as phone:
            headers = {**bearer(await sign_up(phone)), "X-Chunk-SHA256": "ab" * 32}

            failed = await phone.put(
                f"{UPLOAD}/chunks/0", content=b"x" * (4 * 1024 * 1024), headers=headers
            )
            after = await phone.get("/health")

    assert failed.status_code == 503
    assert failed.json()["error"]["details"]["service"] == "datasets"
    assert after.status_code == 200
