"""The signed form of a request: what an app computes and the BFF checks.

    TERN-HMAC-SHA256
    <X-Tern-Timestamp: unix seconds>
    <X-Tern-Nonce>
    <METHOD>
    <path as sent, percent-encoded>[?<query as sent>]
    <lowercase hex SHA-256 of the body (of b"" when there is none)>

joined by "\\n" with no trailing newline; X-Tern-Signature is the lowercase hex HMAC-SHA256
of it under the session's key (the base64url-decoded `signing_key` of the sign-in answer).

An upload chunk (PUT /api/v1/uploads/{id}/chunks/{n}) streams through to storage unread:
its body line is its X-Chunk-SHA256, which the datasets service checks against the bytes it
keeps (a chunk that does not match is refused), so the signature still binds the bytes.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Any

ALGORITHM = "TERN-HMAC-SHA256"
TIMESTAMP_HEADER = "X-Tern-Timestamp"
NONCE_HEADER = "X-Tern-Nonce"
SIGNATURE_HEADER = "X-Tern-Signature"
NONCE_PATTERN = r"^[A-Za-z0-9_-]{16,64}$"
_NONCE_RE = re.compile(NONCE_PATTERN)
_TIMESTAMP_RE = re.compile(r"^\d{1,12}$")
_HEX_SHA256_RE = re.compile(r"^[0-9a-fA-F]{64}$")
_UPLOADS_PREFIX = "/api/v1/uploads/"
_CHUNK_HASH_HEADER = "x-chunk-sha256"
EMPTY_BODY_SHA256 = hashlib.sha256(b"").hexdigest()


def canonical_string(
    method: str, target: str, body_sha256: str, timestamp: int | str, nonce: str
) -> str:
    """The string signed; `target` is the path and query as sent (`/a/b?x=1`)."""
    return "\n".join((ALGORITHM, str(timestamp), nonce, method.upper(), target, body_sha256))


def signature(key: bytes, canonical: str) -> str:
    """X-Tern-Signature of a canonical string."""
    return hmac.new(key, canonical.encode(), hashlib.sha256).hexdigest()


def sign(
    key: bytes, method: str, target: str, body: bytes, timestamp: int, nonce: str
) -> dict[str, str]:
    """The three headers of a signed request (what an app does; used by tests and tools)."""
    canonical = canonical_string(method, target, hashlib.sha256(body).hexdigest(), timestamp, nonce)
    return {
        TIMESTAMP_HEADER: str(timestamp),
        NONCE_HEADER: nonce,
        SIGNATURE_HEADER: signature(key, canonical),
    }


def valid_timestamp(value: str) -> bool:
    return bool(_TIMESTAMP_RE.match(value))


def valid_nonce(value: str) -> bool:
    return bool(_NONCE_RE.match(value))


def is_chunk_upload(method: str, path: str) -> bool:
    return method == "PUT" and path.startswith(_UPLOADS_PREFIX) and "/chunks/" in path


def declared_body_sha256(method: str, path: str, headers: dict[str, str]) -> str | None:
    """The body line of a request whose body is not read here (an upload chunk): its
    declared SHA-256 ("" when it declares none, which no signature matches)."""
    if not is_chunk_upload(method, path):
        return None
    declared = headers.get(_CHUNK_HASH_HEADER, "")
    return declared.lower() if _HEX_SHA256_RE.match(declared) else ""


def request_target(scope: Mapping[str, Any]) -> str:
    """The path and query as the phone sent them."""
    raw = scope.get("raw_path")
    path = raw.split(b"?", 1)[0].decode("latin-1") if raw else scope["path"]
    query = scope.get("query_string", b"").decode("latin-1")
    return f"{path}?{query}" if query else path
