"""Pages read from the services, kept per user and served again while still current.

A page is kept with the user's change version its service answered it under. It is current
while that is still the version this process knows for the user (`KnownVersions`): then the
dashboard and the GraphQL viewer answer it from memory, without calling the service. The last
good copy of a page also stands in, marked stale, while its service cannot answer.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import cachetools

from bff import read_versions
from bff.clients.reads import DownstreamPage
from bff.known_versions import KnownVersions
from services.kit.change_versions import VERSION_HEADER

Fetch = Callable[[], Awaitable[DownstreamPage]]


@dataclass(frozen=True, slots=True)
class KeptPage:
    """One page as it was read: under which version of its user, and when."""

    page: DownstreamPage
    version: int | None
    read_at: float

    @property
    def age_s(self) -> float:
        return max(0.0, time.time() - self.read_at)


class KeptPages:
    """Kept pages by (user, service, what was asked)."""

    def __init__(
        self,
        known: KnownVersions,
        *,
        reuse: bool = True,
        max_entries: int = 50_000,
        keep_s: float = 300.0,
    ) -> None:
        self._known = known
        self._reuse = reuse  # off: every read goes to the service (benchmarks, debugging)
        self._keep_s = keep_s
        self._kept: cachetools.LRUCache[tuple[str, str, str], KeptPage] = cachetools.LRUCache(
            max_entries
        )

    def current(self, service: str, user_id: str, key: str) -> KeptPage | None:
        """The kept page if it is still what the service would answer now."""
        if not self._reuse:
            return None
        section = self._kept.get((user_id, service, key))
        if section is None or section.version is None:
            return None
        return section if self._known.current(service, user_id) == section.version else None

    async def read(self, service: str, user_id: str, key: str, fetch: Fetch) -> KeptPage:
        """The page from memory when current, else from the service (and kept)."""
        section = self.current(service, user_id, key)
        if section is not None:
            read_versions.note(service, section.version)
            return section
        page = await fetch()
        version = page.response.headers.get(VERSION_HEADER)
        section = KeptPage(
            page, int(version) if version and version.isdigit() else None, time.time()
        )
        self._kept[user_id, service, key] = section
        return section

    def last_good(self, service: str, user_id: str, key: str) -> KeptPage | None:
        """The last page read, while it is young enough to show marked stale."""
        section = self._kept.get((user_id, service, key))
        if section is None or section.age_s > self._keep_s:
            return None
        return section
