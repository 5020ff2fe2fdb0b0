"""Under which change versions one answer was read: what a kept GraphQL answer is valid for.

While an operation runs, every read it makes of a service notes the user's version the
service answered it under (`X-Tern-Version`), and every kept page it answers from memory the
version it was kept under. A read that answers no version (a device list, a batch read) or a
resolver reading what no version covers (the BFF's sessions, the app config) makes the answer
unversioned: it is never kept. The answer is current while each service's version is still
the one noted; of two reads of one service under different versions (a write landed between
them) the older is noted, so the answer is refreshed at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar


class ReadVersions:
    """The versions one answer's reads were made under, per service."""

    __slots__ = ("complete", "versions")

    def __init__(self) -> None:
        self.versions: dict[str, int] = {}
        self.complete = True

    def note(self, service: str, version: int | None) -> None:
        if version is None:
            self.complete = False
            return
        seen = self.versions.get(service)
        self.versions[service] = version if seen is None else min(seen, version)

    @property
    def versioned(self) -> bool:
        """Every read was versioned, and there was at least one."""
        return self.complete and bool(self.versions)


_current: ContextVar[ReadVersions | None] = ContextVar("tern_read_versions", default=None)


@contextmanager
def reading() -> Iterator[ReadVersions]:
    """Note the versions of the reads made inside (in this task and the tasks it starts)."""
    reads = ReadVersions()
    token = _current.set(reads)
    try:
        yield reads
    finally:
        _current.reset(token)


def note(service: str, version: int | None) -> None:
    """A read of `service` answered under `version` (None: it answered no version)."""
    reads = _current.get()
    if reads is not None:
        reads.note(service, version)


def unversioned() -> None:
    """What is being read has no change version: the answer is not to be kept."""
    reads = _current.get()
    if reads is not None:
        reads.complete = False
