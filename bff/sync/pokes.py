"""Pokes: when a user's data changes, their other devices get one silent push, and pull.

Every committed change reaches this process as a version event (each service's watch stream,
and the BFF's own bus for sessions), with the device whose request made it. The first event
of a user opens a burst; `debounce_s` later the burst is one poke (the notifications service
sends it as a silent push, collapse key "tern-sync", no user data). If one device made every
change of the burst, that device is left out; a change the server made (a job finishing), or
changes from several devices, poke every device. Each BFF replica hears every event: they all
name the burst by its first event, and the notifications service sends a key once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bff.clients import ServiceClients
from proto.notifications import Poke
from services.kit.background import BackgroundTasks
from services.kit.structured_logging import get_logger

_log = get_logger(__name__)
_MAX_BURSTS = 10_000  # users with a poke pending at once; past it a burst is dropped (logged)

# (user, device to leave out, idempotency key) -> sent
SendPoke = Callable[[str, str | None, str], Awaitable[None]]


@dataclass
class _Burst:
    key: str
    origins: set[str | None] = field(default_factory=set)


class Poker:
    def __init__(self, send: SendPoke, debounce_s: float) -> None:
        self._send = send
        self._debounce_s = debounce_s
        self._bursts: dict[str, _Burst] = {}
        self._tasks = BackgroundTasks()

    def note(self, source: str, user_id: str, version: int, origin: str | None) -> None:
        """A change of `user_id` committed at `source` (version `version`) by `origin`."""
        burst = self._bursts.get(user_id)
        if burst is None:
            if len(self._bursts) >= _MAX_BURSTS:
                _log.warning("poke_dropped", reason="too many pending bursts")
                return
            burst = self._bursts[user_id] = _Burst(key=f"poke:{source}:{version}")
            self._tasks.spawn(self._flush(user_id))
        burst.origins.add(origin)

    async def _flush(self, user_id: str) -> None:
        await asyncio.sleep(self._debounce_s)
        burst = self._bursts.pop(user_id)
        [only] = burst.origins if len(burst.origins) == 1 else [None]
        try:
            await self._send(user_id, only, burst.key)
        except Exception as exc:  # a lost poke only delays a sync until the app opens
            _log.warning("poke_failed", error=type(exc).__name__)

    async def aclose(self) -> None:
        await self._tasks.aclose()


def poke_through(clients: ServiceClients) -> SendPoke:
    """Pokes go out through the notifications service (POST /internal/v1/pokes)."""

    async def send(user_id: str, except_device: str | None, key: str) -> None:
        await clients.notifications.poke(
            user_id, Poke(except_device=except_device, idempotency_key=key)
        )

    return send
