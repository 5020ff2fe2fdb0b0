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

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._entries.clear()
        self._windows.clear()


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

    async def ping(self) -> None:
        await self._redis.ping()

    async def close(self) -> None:
        await self._redis.aclose()


def build_cache(redis_url: str | None, namespace: str) -> Cache:
    """Redis when a URL is configured, else the in-process cache."""
    if redis_url:
        return RedisCache(redis_url, namespace)
    return MemoryCache()
