"""What the fake provider answers to one push, independent of the server that carries it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.responses import Response

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

    def response(self) -> Response:
        """The same answer as an ASGI response (HTTP/1.1 clients, h2c upgrades)."""
        return Response(self.body, status_code=self.status, headers=self.headers)
