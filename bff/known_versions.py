"""What this BFF process knows of each user's change version at each service.

The numbers arrive three ways: every answer a service gives for a user carries the user's
version (`X-Tern-Version`), so the BFF learns of a user's own write before the phone gets its
answer; and each service streams every committed version to a watcher here
(`GET /internal/v1/versions/watch`), so a change the service makes itself (a job finishing, a
push arriving) is known within milliseconds. A cached section is good while its version is
the one known now. What a watcher might have missed it forgets: while a service's stream is
down nothing of that service counts as known, and each new stream starts from nothing.

With replicas (Redis), a version this process learns from an answer goes to the other BFF
replicas too, directly over Redis, and the phone's answer waits until it is out: a phone's
write through one replica shows in its next read through any other. A service's watch
stream would tell them as well, but a hop later, which can be after the phone's next read.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable

import cachetools
import orjson

from bff import read_versions
from services.kit.change_versions import (
    WATCH_PATH,
    VersionBus,
    VersionEvent,
    following,
    hold_answer,
    parse_events,
)
from services.kit.http_client import DownstreamError, DownstreamUnavailable, ServiceClient
from services.kit.structured_logging import get_logger

_log = get_logger(__name__)
# A heartbeat comes every 5 s: three missed ones and the stream counts as lost.
_SILENCE_S = 15.0
_RETRY_MIN_S, _RETRY_MAX_S = 0.05, 1.0


ChangeListener = Callable[[str, str, int, str | None], None]


class NotWatching(Exception):
    """No watch stream to this service is open now."""


class KnownVersions:
    """Per service: user -> the highest version heard of, while the service is watched."""

    def __init__(
        self, services: Iterable[str], max_users: int = 100_000, shared: VersionBus | None = None
    ) -> None:
        self._max_users = max_users
        # The other BFF replicas: what this one learns from answers, each hears too.
        self.shared = shared
        self._known: dict[str, cachetools.LRUCache[str, int]] = {
            name: cachetools.LRUCache(max_users) for name in services
        }
        self._watched: dict[str, bool] = dict.fromkeys(self._known, False)
        # Told of every change a watch stream brings: (service, user, version, origin device).
        self.listeners: list[ChangeListener] = []

    def current(self, service: str, user_id: str) -> int | None:
        """The user's version at `service` now; None when unknown (then nothing is fresh)."""
        if not self._watched[service]:
            return None
        return self._known[service].get(user_id)

    def observe(self, service: str, user_id: str, version: int | None) -> None:
        """An answer of `service` for the user: the version it carried, if any, is known now
        and noted as one the current answer was read under."""
        read_versions.note(service, version)
        if version is None:
            return
        known = self._known[service]
        if version > known.get(user_id, -1):
            known[user_id] = version
            if self.shared is not None:
                hold_answer(self.shared.publish([(_shared_owner(service, user_id), version, None)]))

    def heard_from_other(self, event: VersionEvent) -> None:
        """What another BFF replica learned from an answer (`shared`)."""
        service, _, user_id = event[0].partition("/")
        known = self._known.get(service)
        if known is not None and event[1] > known.get(user_id, -1):
            known[user_id] = event[1]

    def start_watching(self, service: str) -> None:
        """A new stream is registered at the service: count from here, knowing nothing."""
        self._known[service] = cachetools.LRUCache(self._max_users)
        self._watched[service] = True

    def stop_watching(self, service: str) -> None:
        """The stream is gone: nothing of the service is known until the next one."""
        self._watched[service] = False
        self._known[service].clear()

    def watching(self, service: str) -> bool:
        return self._watched[service]

    def readiness_check(self, service: str, client: ServiceClient) -> Callable[[], Awaitable[None]]:
        """The BFF's /ready check of a service: it answers, and its changes are heard."""

        async def check() -> None:
            await client.ping()
            if not self._watched[service]:
                raise NotWatching(service)

        return check

    async def watch(self, service: str, client: ServiceClient) -> None:
        """Keep one watch stream to `service` open for the life of the process."""
        delay = _RETRY_MIN_S
        while True:
            try:
                await self._follow(service, client)
                delay = _RETRY_MIN_S  # it ran, then ended (the service shut down): retry soon
            except (DownstreamUnavailable, DownstreamError, TimeoutError, ValueError) as exc:
                _log.info("version_watch_lost", service=service, reason=str(exc))
            finally:
                self.stop_watching(service)
            await asyncio.sleep(delay)
            delay = min(_RETRY_MAX_S, delay * 2)

    async def _follow(self, service: str, client: ServiceClient) -> None:
        watch = client.stream("GET", WATCH_PATH, read_timeout_s=_SILENCE_S, guarded=False)
        async with watch as response:
            self.start_watching(service)
            known = self._known[service]
            buffer = b""
            async for chunk in response.aiter_bytes():
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if line:
                        for user_id, version, origin in parse_events(orjson.loads(line)):
                            if version > known.get(user_id, -1):
                                known[user_id] = version
                            for listener in self.listeners:
                                listener(service, user_id, version, origin)


async def watch_all(known: KnownVersions, clients: dict[str, ServiceClient]) -> None:
    """Watch every service until cancelled."""
    async with asyncio.TaskGroup() as group:
        for name, client in clients.items():
            group.create_task(known.watch(name, client))


@contextlib.asynccontextmanager
async def watching(known: KnownVersions, clients: dict[str, ServiceClient]) -> AsyncIterator[None]:
    """Watch every service while the context is open; each client reports the versions its
    answers carry."""
    for name, client in clients.items():
        client.on_version = functools.partial(known.observe, name)
    task = asyncio.create_task(watch_all(known, clients))
    try:
        if known.shared is None:
            yield
        else:  # the other BFF replicas; if Redis is lost, the watch streams still tell, later
            async with following(known.shared, known.heard_from_other, name="known_versions"):
                yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if known.shared is not None:
            await known.shared.close()


def _shared_owner(service: str, user_id: str) -> str:
    return f"{service}/{user_id}"
