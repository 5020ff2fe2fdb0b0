"""The signing headers and their refusals in the BFF's OpenAPI document."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from bff.signing.canonical import NONCE_HEADER, NONCE_PATTERN, SIGNATURE_HEADER, TIMESTAMP_HEADER
from services.kit.openapi_document import amend

_USER_SCHEME = "userToken"
_SIGN_IN_PATHS = frozenset({"/api/v1/auth/register", "/api/v1/auth/login"})
# Not marked with the user's scheme (their items and operations may be anonymous), but
# signed like any request with an access token.
_ALSO_SIGNED = frozenset({"/api/v1/batch", "/graphql"})
_WHY = (
    "Request signing (README, 'Signed requests'): required for the platforms the deployment "
    "lists, checked whenever sent."
)
_PARAMETERS: list[dict[str, Any]] = [
    {
        "name": TIMESTAMP_HEADER,
        "in": "header",
        "required": False,
        "description": f"Unix seconds when the request was signed. {_WHY}",
        "schema": {"type": "string", "pattern": r"^\d{1,12}$"},
    },
    {
        "name": NONCE_HEADER,
        "in": "header",
        "required": False,
        "description": "A new random value for each signed request (refused if seen again).",
        "schema": {"type": "string", "pattern": NONCE_PATTERN},
    },
    {
        "name": SIGNATURE_HEADER,
        "in": "header",
        "required": False,
        "description": "Hex HMAC-SHA256 of the canonical string under the session's signing key.",
        "schema": {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"},
    },
]
_SIGNING_401 = (
    " Also SIGNATURE_REQUIRED (this app must sign; `action` sign_in when the session has no "
    "key, update_app otherwise), SIGNATURE_INVALID (sign in again), REQUEST_EXPIRED (the "
    "timestamp is outside the window; `details.server_time`, sign again) and REQUEST_REPLAYED "
    "(the nonce was used; sign again with a new one)."
)
_ATTESTATION_401 = (
    " Also ATTESTATION_REQUIRED (this platform attests its sign-ins), "
    "ATTESTATION_CHALLENGE_INVALID (ask for a new challenge) and ATTESTATION_FAILED."
)


def document_request_signing(app: FastAPI) -> None:
    """Make `app.openapi()` list the signing headers and refusals on each operation a user's
    access token opens, and the attestation refusals on sign-in."""
    amend(app, _document)


def _document(document: dict[str, Any]) -> None:
    for path, operations in document.get("paths", {}).items():
        for operation in operations.values():
            unauthorized = operation.get("responses", {}).get("401")
            if path in _SIGN_IN_PATHS and unauthorized is not None:
                unauthorized["description"] += _ATTESTATION_401
            secured = any(_USER_SCHEME in need for need in operation.get("security", []))
            if not (secured or path in _ALSO_SIGNED):
                continue
            operation.setdefault("parameters", []).extend(_PARAMETERS)
            if unauthorized is not None:
                unauthorized["description"] += _SIGNING_401
