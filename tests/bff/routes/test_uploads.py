"""Upload routes check their input before anything reaches the datasets service."""

import httpx

from tests.bff.conftest import bearer, sign_up

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
