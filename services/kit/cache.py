"""One cache / rate-limit interface: in-process (cachetools) by default, Redis when configured."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import cachetools
import redis.asyncio as aioredis


@dataclass(frozen=True, slots=True)
class WindowDecision:
    """The outcome of counting one hit against a sliding-window limit."""

    allowed: bool
    limit: int
    remaining: int
    reset_after_s: float


class Cache(Protocol):
    """What every backend offers. Keys are namespaced by the caller."""

    async def get(self, key: str) -> bytes | None: ...
    async def set(self, key: str, value: bytes, ttl_s: float) -> None: ...
    async def delete(self, key: str) -> None: ...
    async def incr(self, key: str, ttl_s: float) -> int: ...
    async def hit(self, key: str, limit: int, window_s: float) -> WindowDecision: ...
    # One hit in each window, or in none when any of them is full (the tightest decides).
    async def hit_all(self, keys: Sequence[str], limit: int, window_s: float) -> WindowDecision: ...
    # At most `limit` holders of `key` at once, each slot held for `lease_s` unless renewed
    # (so a holder that died frees its slot): taken (True) or refused (False).
    async def take_slot(self, key: str, holder: str, limit: int, lease_s: float) -> bool: ...
    async def renew_slot(self, key: str, holder: str, lease_s: float) -> None: ...
    async def free_slot(self, key: str, holder: str) -> None: ...
    async def ping(self) -> None: ...
    async def close(self) -> None: ...


@dataclass(slots=True)
class _Entry:
    value: bytes | int
    expires_at: float


class MemoryCache:
    """Per-process cache with per-key expiry, bounded in entries."""

    def __init__(self, maxsize: int = 100_000) -> None:
        self._entries: cachetools.TLRUCache[str, _Entry] = cachetools.TLRUCache(
            maxsize=maxsize, ttu=lambda _k, entry, _now: entry.expires_at, timer=time.monotonic
        )
        self._windows: cachetools.TLRUCache[str, _Entry] = cachetools.TLRUCache(
            maxsize=maxsize, ttu=lambda _k, entry, _now: entry.expires_at, timer=time.monotonic
        )
        self._slots: dict[str, dict[str, float]] = {}  # key -> holder -> lease end

    async def get(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        value = entry.value
        return str(value).encode() if isinstance(value, int) else value

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        self._entries[key] = _Entry(value, time.monotonic() + ttl_s)

    async def delete(self, key: str) -> None:
        self._entries.pop(key, None)

    async def incr(self, key: str, ttl_s: float) -> int:
        entry = self._entries.get(key)
        if entry is None or not isinstance(entry.value, int):
            entry = _Entry(0, time.monotonic() + ttl_s)
        entry.value = int(entry.value) + 1
        self._entries[key] = entry
        return entry.value

    async def hit(self, key: str, limit: int, window_s: float) -> WindowDecision:
        return await self.hit_all([key], limit, window_s)

    async def hit_all(self, keys: Sequence[str], limit: int, window_s: float) -> WindowDecision:
        now = time.monotonic()
        windows: dict[str, deque[float]] = {}
        for key in _distinct(keys):
            entry = self._windows.get(key)
            hits: deque[float] = entry.value if entry is not None else deque()  # type: ignore[assignment]
            while hits and hits[0] <= now - window_s:
                hits.popleft()
            windows[key] = hits
        full = [hits[0] + window_s - now for hits in windows.values() if len(hits) >= limit]
        if full:
            return WindowDecision(False, limit, 0, max(full))
        for key, hits in windows.items():
            hits.append(now)
            self._windows[key] = _Entry(hits, now + window_s)  # type: ignore[arg-type]
        return _tightest(
            WindowDecision(True, limit, limit - len(hits), hits[0] + window_s - now)
            for hits in windows.values()
        )

    async def take_slot(self, key: str, holder: str, limit: int, lease_s: float) -> bool:
        now = time.monotonic()
        held = {h: end for h, end in self._slots.get(key, {}).items() if end > now}
        if holder not in held and len(held) >= limit:
            self._slots[key] = held
            return False
        held[holder] = now + lease_s
        self._slots[key] = held
        return True

    async def renew_slot(self, key: str, holder: str, lease_s: float) -> None:
        held = self._slots.get(key)
        if held is not None and holder in held:
            held[holder] = time.monotonic() + lease_s

    async def free_slot(self, key: str, holder: str) -> None:
        held = self._slots.get(key)
        if held is not None:
            held.pop(holder, None)
            if not held:
                del self._slots[key]

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._entries.clear()
        self._windows.clear()
        self._slots.clear()


# Sliding window logs in one round trip: drop old hits from each window, count them, and add
# this hit to every window only if each has room, so a hit refused by one window costs none
# of the others. All keys must live on one Redis node (no cluster slots are spanned here).
_HIT_SCRIPT = """
local now, window, limit, member = tonumber(ARGV[1]), tonumber(ARGV[2]),
    tonumber(ARGV[3]), ARGV[4]
local counts, firsts, refused, wait = {}, {}, false, 0
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  counts[i] = redis.call('ZCARD', key)
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  firsts[i] = now
  if oldest[2] then firsts[i] = tonumber(oldest[2]) end
  if counts[i] >= limit then
    refused = true
    wait = math.max(wait, firsts[i] + window - now)
  end
end
if refused then
  return {0, 0, tostring(wait)}
end
local remaining, reset = limit, 0
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, member)
  redis.call('PEXPIRE', key, math.ceil(window * 1000))
  local left, after = limit - counts[i] - 1, firsts[i] + window - now
  if left < remaining or (left == remaining and after > reset) then
    remaining, reset = left, after
  end
end
return {1, remaining, tostring(reset)}
"""


# Leased slots in one round trip: drop lapsed leases, then take (or renew) this holder's slot
# if it holds one already or there is room. Scores are lease ends (Redis server time, so that
# replicas with skewed clocks agree); the key lives as long as its longest lease.
_TAKE_SLOT_SCRIPT = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local limit, lease_ms, holder = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms)
if not redis.call('ZSCORE', KEYS[1], holder) and redis.call('ZCARD', KEYS[1]) >= limit then
  return 0
end
redis.call('ZADD', KEYS[1], now_ms + lease_ms, holder)
if redis.call('PTTL', KEYS[1]) < lease_ms then redis.call('PEXPIRE', KEYS[1], lease_ms) end
return 1
"""
_RENEW_SLOT_SCRIPT = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local lease_ms = tonumber(ARGV[1])
if redis.call('ZADD', KEYS[1], 'XX', 'CH', now_ms + lease_ms, ARGV[2]) == 1
    and redis.call('PTTL', KEYS[1]) < lease_ms then
  redis.call('PEXPIRE', KEYS[1], lease_ms)
end
return 0
"""


def _distinct(keys: Sequence[str]) -> list[str]:
    if not keys:
        raise ValueError("a hit counts against at least one window")
    return list(dict.fromkeys(keys))


def _tightest(decisions: Iterable[WindowDecision]) -> WindowDecision:
    """The window a client runs into first: fewest hits left, then the longest to wait."""
    return min(decisions, key=lambda d: (d.remaining, -d.reset_after_s))


class RedisCache:
    """The same interface over Redis, shared by every replica."""

    def __init__(self, url: str, namespace: str) -> None:
        self._redis = aioredis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._ns = namespace
        self._hit_script = self._redis.register_script(_HIT_SCRIPT)
        self._take_slot_script = self._redis.register_script(_TAKE_SLOT_SCRIPT)
        self._renew_slot_script = self._redis.register_script(_RENEW_SLOT_SCRIPT)
        self._seq = 0

    def _key(self, key: str) -> str:
        return f"{self._ns}:{key}"

    async def get(self, key: str) -> bytes | None:
        value = await self._redis.get(self._key(key))
        return value.encode() if isinstance(value, str) else value

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        await self._redis.set(self._key(key), value, px=max(1, int(ttl_s * 1000)))

    async def delete(self, key: str) -> None:
        await self._redis.delete(self._key(key))

    async def incr(self, key: str, ttl_s: float) -> int:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(self._key(key))
            pipe.pexpire(self._key(key), max(1, int(ttl_s * 1000)), nx=True)
            count, _ = await pipe.execute()
        return int(count)

    async def hit(self, key: str, limit: int, window_s: float) -> WindowDecision:
        return await self.hit_all([key], limit, window_s)

    async def hit_all(self, keys: Sequence[str], limit: int, window_s: float) -> WindowDecision:
        self._seq += 1
        now = time.time()
        member = f"{now:.6f}:{id(self)}:{self._seq}"
        allowed, remaining, reset = await self._hit_script(
            keys=[self._key(f"rl:{key}") for key in _distinct(keys)],
            args=[now, window_s, limit, member],
        )
        return WindowDecision(bool(allowed), limit, int(remaining), max(0.0, float(reset)))

    async def take_slot(self, key: str, holder: str, limit: int, lease_s: float) -> bool:
        taken = await self._take_slot_script(
            keys=[self._key(f"slots:{key}")], args=[limit, _ms(lease_s), holder]
        )
        return bool(taken)

    async def renew_slot(self, key: str, holder: str, lease_s: float) -> None:
        await self._renew_slot_script(keys=[self._key(f"slots:{key}")], args=[_ms(lease_s), holder])

    async def free_slot(self, key: str, holder: str) -> None:
        await self._redis.zrem(self._key(f"slots:{key}"), holder)

    async def ping(self) -> None:
        await self._redis.ping()

    async def close(self) -> None:
        await self._redis.aclose()


def build_cache(redis_url: str | None, namespace: str) -> Cache:
    """Redis when a URL is configured, else the in-process cache."""
    if redis_url:
        return RedisCache(redis_url, namespace)
    return MemoryCache()


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))
