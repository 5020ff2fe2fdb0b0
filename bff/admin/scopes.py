"""What an admin token may do: each admin route needs one of these scopes."""

from __future__ import annotations

CONFIG_READ = "config:read"
CONFIG_WRITE = "config:write"
PUSH_SEND = "push:send"
USERS_READ = "users:read"
USERS_REVOKE = "users:revoke"
OPS_READ = "ops:read"
AUDIT_READ = "audit:read"
TOKENS_WRITE = "tokens:write"

ALL_SCOPES: tuple[str, ...] = (
    CONFIG_READ,
    CONFIG_WRITE,
    PUSH_SEND,
    USERS_READ,
    USERS_REVOKE,
    OPS_READ,
    AUDIT_READ,
    TOKENS_WRITE,
)
