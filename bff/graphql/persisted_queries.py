"""Automatic persisted queries (Apollo's APQ protocol, version 1).

A request names its document by `extensions.persistedQuery.sha256Hash`. With the hash alone,
a known document runs; an unknown one answers PERSISTED_QUERY_NOT_FOUND (message
"PersistedQueryNotFound", which Apollo clients answer by sending the hash with the query).
With both, the hash is checked (PERSISTED_QUERY_HASH_MISMATCH) and the document kept for
`ttl_s` in the kit's cache (Redis when configured, so every replica knows it; else this
process). A document over `max_bytes` runs but is not kept.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from services.kit.cache import Cache
from services.kit.errors import Action, ApiError

PERSISTED_QUERY = "persistedQuery"
_KEY_PREFIX = "graphql:apq:"
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


class PersistedQueryError(Exception):
    """The request's persisted query cannot run; answered as a GraphQL error."""

    def __init__(self, error: ApiError, message: str) -> None:
        super().__init__(message)
        self.error = error
        self.message = message


class PersistedQueries:
    """Documents by the SHA-256 of their text."""

    def __init__(self, cache: Cache, ttl_s: float, max_bytes: int) -> None:
        self._cache = cache
        self._ttl_s = ttl_s
        self._max_bytes = max_bytes

    async def document(self, query: str | None, extensions: dict[str, Any] | None) -> str | None:
        """The document the request runs: its own `query`, or the one its hash names."""
        persisted = (extensions or {}).get(PERSISTED_QUERY)
        if persisted is None:
            return query
        sha256 = _hash_of(persisted)
        if query is None:
            kept = await self._cache.get(_KEY_PREFIX + sha256)
            if kept is None:
                raise PersistedQueryError(not_found(), "PersistedQueryNotFound")
            return kept.decode()
        text = query.encode()
        if hashlib.sha256(text).hexdigest() != sha256:
            raise PersistedQueryError(hash_mismatch(), "provided sha does not match query")
        if len(text) <= self._max_bytes:
            await self._cache.set(_KEY_PREFIX + sha256, text, self._ttl_s)
        return query


def persisted_hash(extensions: Mapping[str, Any] | None) -> str | None:
    """The SHA-256 a request names its document by (lowercase hex), None if it names none;
    INVALID_PERSISTED_QUERY when `persistedQuery` is malformed."""
    persisted = (extensions or {}).get(PERSISTED_QUERY)
    return None if persisted is None else _hash_of(persisted)


def _hash_of(persisted: object) -> str:
    if not isinstance(persisted, dict) or persisted.get("version") != 1:
        raise PersistedQueryError(
            invalid("persistedQuery must be {version: 1, sha256Hash}"), "PersistedQueryNotSupported"
        )
    sha256 = persisted.get("sha256Hash")
    if not isinstance(sha256, str) or not _SHA256_HEX.fullmatch(sha256.lower()):
        raise PersistedQueryError(
            invalid("sha256Hash must be 64 hex digits"), "PersistedQueryNotSupported"
        )
    return sha256.lower()


def not_found() -> ApiError:
    return ApiError(
        404,
        "PERSISTED_QUERY_NOT_FOUND",
        "no document is kept under this hash: send it with the query",
        action=Action.RETRY,
        retry_allowed=True,
    )


def hash_mismatch() -> ApiError:
    return ApiError(
        400,
        "PERSISTED_QUERY_HASH_MISMATCH",
        "sha256Hash is not the SHA-256 of the query",
        action=Action.FIX_INPUT,
    )


def invalid(message: str) -> ApiError:
    return ApiError(400, "INVALID_PERSISTED_QUERY", message, action=Action.FIX_INPUT)
