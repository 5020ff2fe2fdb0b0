"""What the fake provider answers to one push, independent of the server that carries it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

_JSON = {"content-type": "application/json"}


@dataclass(frozen=True, slots=True)
class ProviderAnswer:
    """Status, headers and body of one provider answer (an empty body: no DATA frame on h2)."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @classmethod
    def json(
        cls, status: int, content: dict[str, Any], headers: dict[str, str] | None = None
    ) -> ProviderAnswer:
        return cls(status, {**_JSON, **(headers or {})}, orjson.dumps(content))
