"""Idempotency keys: a retried write answers what it answered the first time."""
