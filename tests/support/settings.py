"""Settings factories for tests: a temp data dir, a real secret, SQLite by default."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from pydantic import SecretStr

from services.kit.settings import ServiceSettings
from tests.support.apps import TEST_SECRET

S = TypeVar("S", bound=ServiceSettings)


def make_settings(cls: type[S], data_dir: Path, **overrides: Any) -> S:
    """Settings of one deployable for a test, isolated in `data_dir`."""
    values: dict[str, Any] = {
        "environment": "test",
        "data_dir": data_dir,
        "service_token_secret": SecretStr(TEST_SECRET),
        "log_json": True,
    }
    values.update(overrides)
    return cls(**values)
