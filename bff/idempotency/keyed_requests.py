"""Which requests an Idempotency-Key applies to, and what tells two of them apart."""

from __future__ import annotations

import hashlib

from bff.routes.models import MODEL_UPLOADS_PATH

REST_SCOPE = "rest"
"""The store's scope of the public REST API's keys."""

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_API_PREFIX = "/api/v1/"
# Sign-in, refresh and sign-out answer credentials (kept nowhere in plain text) and are safe
# to repeat as they are.
_AUTH_PREFIX = "/api/v1/auth/"
_UPLOADS_PREFIX = "/api/v1/uploads/"


def is_keyed(method: str, path: str) -> bool:
    """Whether an Idempotency-Key on this request is honoured: an unsafe call of the public
    API. Not: auth calls; upload chunks, which are idempotent by their index already and too
    large to hold in memory; model uploads, too large as well (a retry uploads a new version)."""
    if method not in UNSAFE_METHODS or not path.startswith(_API_PREFIX):
        return False
    if path.startswith(_AUTH_PREFIX) or path.startswith(MODEL_UPLOADS_PATH):
        return False
    return not (path.startswith(_UPLOADS_PREFIX) and "/chunks/" in path)


def request_fingerprint(method: str, path: str, query: bytes, body: bytes) -> str:
    """What makes two requests the same one: method, path, query and the body's SHA-256."""
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), query, hashlib.sha256(body).digest()):
        digest.update(len(part).to_bytes(8, "big"))  # length-prefixed: no two splits collide
        digest.update(part)
    return digest.hexdigest()
