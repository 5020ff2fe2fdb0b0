"""A short `make fuzz` in CI: no generated input gets a 5xx or a status its document omits."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from fastapi import FastAPI

from tests import fuzz
from tests.support.servers import serve_app

pytestmark = pytest.mark.integration


def test_no_generated_input_gets_a_server_error_or_an_undocumented_status(tmp_path: Path) -> None:
    results = fuzz.run(seconds_per_document=5, workdir=tmp_path)

    assert [r.document for r in results] == list(fuzz.DOCUMENTS)
    assert all(r.operations > 0 for r in results)
    assert [failure for r in results for failure in r.failures] == []


async def test_the_fuzzer_reports_a_server_error(tmp_path: Path) -> None:
    """The run above can fail: an operation that answers 500 is found and named."""
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        if not 0 <= item_id <= 3:
            raise RuntimeError("a bug")
        return {"id": item_id}

    document = tmp_path / "items.json"
    document.write_text(json.dumps(app.openapi()))
    async with serve_app(app) as url:
        result = await asyncio.to_thread(fuzz.fuzz_document, document, url, {}, 6, tmp_path)

    assert result.operations == 1
    assert len(result.failures) == 1
    assert "GET /items/{item_id}" in result.failures[0]
