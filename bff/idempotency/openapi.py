"""The Idempotency-Key header in the BFF's OpenAPI document, on each operation that honours it."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from bff.idempotency.keyed_requests import is_keyed
from bff.idempotency.store import MAX_KEY_LENGTH
from services.kit.openapi_document import amend

_PARAMETER: dict[str, Any] = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": (
        "A key the app makes for one intended action (a UUID), sent again with each retry of "
        "it (draft-ietf-httpapi-idempotency-key-header; a bare key or a quoted sf-string). "
        "The same key and request answer the first answer again, with "
        "`Idempotent-Replayed: true`; keys are per signed-in user (without a valid access "
        "token the header is ignored) and kept 7 days (by default). Not kept: "
        "5xx, 401, 408 and 429 answers, streams and large answers; a retry of those runs again."
    ),
    "schema": {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_KEY_LENGTH,
        "pattern": "^[ -~]+$",
    },
}
_REPLAYED: dict[str, Any] = {
    "description": "`true` on the kept answer of an earlier request with this Idempotency-Key",
    "schema": {"type": "string", "enum": ["true"]},
}
_ALSO = {
    "409": " Also IDEMPOTENCY_KEY_IN_FLIGHT: the first request with this Idempotency-Key has "
    "not answered yet (`Retry-After`).",
    "422": " Also INVALID_IDEMPOTENCY_KEY, and IDEMPOTENCY_KEY_REUSED: this Idempotency-Key "
    "was used for another request.",
}


def document_idempotency_key(app: FastAPI) -> None:
    """Make `app.openapi()` list the header, `Idempotent-Replayed` and the key's errors on
    the operations an Idempotency-Key applies to (all of them need a user's access token: a
    batch's items do)."""
    amend(app, _document)


def _document(document: dict[str, Any]) -> None:
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            if not is_keyed(method.upper(), path):
                continue
            operation.setdefault("parameters", []).append(_PARAMETER)
            for status, answer in operation.get("responses", {}).items():
                if status.startswith("2"):
                    answer.setdefault("headers", {})["Idempotent-Replayed"] = _REPLAYED
                elif status in _ALSO:
                    answer["description"] += _ALSO[status]
