"""Opaque refresh tokens: random strings the client keeps, stored here only as SHA-256."""

from __future__ import annotations

import hashlib
import secrets

_TOKEN_BYTES = 32


def new_refresh_token() -> str:
    """A fresh random refresh token (43 URL-safe characters)."""
    return secrets.token_urlsafe(_TOKEN_BYTES)


def hash_refresh_token(token: str) -> str:
    """The stored form of a refresh token: its SHA-256, hex."""
    return hashlib.sha256(token.encode()).hexdigest()
