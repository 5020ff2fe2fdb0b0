"""The datasets process killed while a chunk streams in: after a restart the upload resumes."""

from __future__ import annotations

import hashlib
import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest

from infra.local.stack import Stack
from tests.integration.flows import Phone

pytestmark = pytest.mark.integration

_DEADLINE_S = 30.0


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _csv(rows: int) -> bytes:
    lines = ["id,name,score"] + [f"{i},name-{i},{i * 0.25}" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


def _wait_for(condition: Any, what: str, timeout_s: float = _DEADLINE_S) -> Any:
    """Poll `condition` until it returns something truthy; fail naming `what` after the deadline."""
    deadline = time.monotonic() + timeout_s
    while not (result := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return result


class _HalfSentChunk:
    """A chunk body that sends its first part, then holds the request open until released."""

    def __init__(self, chunk: bytes, sent_first: int) -> None:
        self.chunk = chunk
        self.sent_first = sent_first
        self.release = threading.Event()

    def __iter__(self) -> Iterator[bytes]:
        yield self.chunk[: self.sent_first]
        self.release.wait(timeout=_DEADLINE_S)
        yield self.chunk[self.sent_first :]


def test_a_kill_mid_chunk_keeps_received_chunks_and_drops_the_partial_one(
    stack: Stack, bff: httpx.Client
) -> None:
    phone = Phone(bff)
    data = _csv(500_000)  # a little over two 5 MiB chunks
    created = phone.post(
        "/api/v1/uploads",
        json={"filename": "big.csv", "size": len(data), "sha256": _sha(data)},
    )
    assert created.status_code == 201, created.text
    session = created.json()
    upload_id, size = session["upload_id"], session["chunk_size"]
    chunks = [data[i : i + size] for i in range(0, len(data), size)]
    assert len(chunks) == 3

    def put(n: int, body: Any) -> httpx.Response:
        headers = {
            **phone.headers,
            "X-Chunk-SHA256": _sha(chunks[n]),
            "content-length": str(len(chunks[n])),
        }
        return bff.put(f"/api/v1/uploads/{upload_id}/chunks/{n}", content=body, headers=headers)

    assert put(0, chunks[0]).status_code == 200

    # Chunk 1 streams in slowly; the datasets process dies with part of it on disk.
    half = _HalfSentChunk(chunks[1], sent_first=2 * 1024 * 1024)
    answers: list[httpx.Response] = []
    sender = threading.Thread(target=lambda: answers.append(put(1, half)))
    sender.start()
    folder = stack.config.data_dir / "datasets" / "uploads" / upload_id
    partial: Path = _wait_for(
        lambda: next((p for p in folder.glob(".incoming-*") if p.stat().st_size > 0), None),
        "the partial chunk on disk",
    )
    stack.kill("datasets")
    half.release.set()
    sender.join(timeout=_DEADLINE_S)
    assert not sender.is_alive()
    # The BFF tells the phone which service failed, and to retry; it reads the rest of the
    # chunk first, so the phone's next requests can go on the same connection.
    [answer] = answers
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"]["details"] == {"service": "datasets"}
    assert answer.json()["error"]["retry"]["allowed"] is True

    stack.restart("datasets")
    resumed = _wait_for(
        lambda: (r := phone.get(f"/api/v1/uploads/{upload_id}")).status_code == 200 and r,
        "the upload to answer again",
    ).json()

    assert resumed["status"] == "open"
    assert resumed["received_chunks"] == [0]  # the half-written chunk 1 does not count
    assert partial.exists()  # left for the sweeper, once stale
    for n in (1, 2):
        sent = put(n, chunks[n])
        assert sent.status_code == 200, sent.text
    # Completing checks the whole file against the sha256 announced at the start.
    completed = phone.post(f"/api/v1/uploads/{upload_id}/complete")
    assert completed.status_code == 201, completed.text
    version = completed.json()
    assert version["row_count"] == 500_000
    content = phone.get(f"/api/v1/datasets/{version['dataset_id']}/versions/1/content")
    assert content.status_code == 200
    assert _sha(content.content) == version["sha256"]
    table = pq.read_table(io.BytesIO(content.content))
    assert table.column("id")[499_999].as_py() == 499_999
