"""Signed requests from phones: per-install HMAC keys, a canonical string, a replay window."""
