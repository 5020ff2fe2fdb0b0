"""One cache / rate-limit interface: in-process (cachetools) by default, Redis when configured."""

from __future__ import annotations

import time
from collections import deque
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
        now = time.monotonic()
        entry = self._windows.get(key)
        hits: deque[float] = entry.value if entry is not None else deque()  # type: ignore[assignment]
        while hits and hits[0] <= now - window_s:
            hits.popleft()
        if len(hits) >= limit:
            return WindowDecision(False, limit, 0, hits[0] + window_s - now)
        hits.append(now)
        self._windows[key] = _Entry(hits, now + window_s)  # type: ignore[arg-type]
        return WindowDecision(True, limit, limit - len(hits), hits[0] + window_s - now)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._entries.clear()
        self._windows.clear()


# Sliding window log in one round trip: drop old hits, count, add this one if under the limit.
_HIT_SCRIPT = """
local key, now, window, limit, member = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]),
    tonumber(ARGV[3]), ARGV[4]
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local count = redis.call('ZCARD', key)
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
local first = now
if oldest[2] then first = tonumber(oldest[2]) end
if count >= limit then
  return {0, 0, tostring(first + window - now)}
end
redis.call('ZADD', key, now, member)
redis.call('PEXPIRE', key, math.ceil(window * 1000))
return {1, limit - count - 1, tostring(first + window - now)}
"""


class RedisCache:
    """The same interface over Redis, shared by every replica."""

    def __init__(self, url: str, namespace: str) -> None:
        self._redis = aioredis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._ns = namespace
        self._hit_script = self._redis.register_script(_HIT_SCRIPT)
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
        self._seq += 1
        now = time.time()
        member = f"{now:.6f}:{id(self)}:{self._seq}"
        allowed, remaining, reset = await self._hit_script(
            keys=[self._key(f"rl:{key}")], args=[now, window_s, limit, member]
        )
        return WindowDecision(bool(allowed), limit, int(remaining), max(0.0, float(reset)))

    async def ping(self) -> None:
        await self._redis.ping()

    async def close(self) -> None:
        await self._redis.aclose()


def build_cache(redis_url: str | None, namespace: str) -> Cache:
    """Redis when a URL is configured, else the in-process cache."""
    if redis_url:
        return RedisCache(redis_url, namespace)
    return MemoryCache()
