"""Percentage rollout by a stable hash: a device stays in (or out) for a flag across requests,
replicas and restarts, and raising the percentage only adds devices."""

from __future__ import annotations

import hashlib

_BUCKETS = 10_000


def rollout_bucket(flag_key: str, device_id: str) -> int:
    """The device's bucket for this flag, 0..9999 (per flag, so rollouts are independent)."""
    digest = hashlib.sha256(f"{flag_key}\x00{device_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % _BUCKETS


def in_rollout(flag_key: str, device_id: str | None, percent: int) -> bool:
    """Whether a device is within the first `percent` of devices for this flag."""
    if percent >= 100:
        return True
    if percent <= 0 or device_id is None:
        return False
    return rollout_bucket(flag_key, device_id) < percent * _BUCKETS // 100
