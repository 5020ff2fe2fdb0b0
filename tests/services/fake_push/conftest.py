"""The fake provider served on a free port as `python -m services.fake_push` serves it, and
HTTP/2 clients for it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from services.fake_push import provider_streams
from services.fake_push.app import create_app
from services.fake_push.settings import FakePushSettings
from tests.support.held_answers import HeldAnswers
from tests.support.servers import serve_app
from tests.support.settings import make_settings


@pytest.fixture
async def fake_push_url(tmp_path: Path) -> AsyncIterator[str]:
    app = create_app(make_settings(FakePushSettings, tmp_path))
    async with serve_app(app) as url:
        yield url


@pytest.fixture
async def h2(fake_push_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """HTTP/2 with prior knowledge (h2c), the way the notifications service talks to it."""
    async with httpx.AsyncClient(base_url=fake_push_url, http1=False, http2=True) as client:
        yield client


@pytest.fixture
def held_answers(fake_push_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[HeldAnswers]:
    """The fake provider (served in this process) holds each answer it would delay until the
    test releases it, instead of sleeping; released at the end, before the server stops."""
    held = HeldAnswers()
    monkeypatch.setattr(provider_streams, "asyncio", SimpleNamespace(sleep=held.sleep))
    yield held
    held.release()
