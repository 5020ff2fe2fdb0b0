"""What one BFF replica learns from an answer reaches the others before the phone's next read.

Found by tests/integration/test_scale_out.py: a job created through one BFF was missing from
the dashboard read through the other, which had heard of the new version only through its
own training replica's watch stream, a hop after the phone's read.
"""

from __future__ import annotations

import asyncio

from bff.known_versions import KnownVersions
from services.kit import change_versions
from services.kit.change_versions import MemoryVersionBus, VersionEvent, following


class _SlowBus(MemoryVersionBus):
    """An in-process bus whose sends take a while (a Redis round trip)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[VersionEvent] = []

    def publish(self, events: list[VersionEvent]) -> asyncio.Task[None]:  # type: ignore[override]
        async def send() -> None:
            await asyncio.sleep(0.05)
            self.sent.extend(events)
            MemoryVersionBus.publish(self, events)

        return asyncio.ensure_future(send())


async def _settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


async def test_a_version_learned_by_one_replica_is_known_to_the_others() -> None:
    bus = MemoryVersionBus()
    first = KnownVersions(["training"], shared=bus)
    second = KnownVersions(["training"], shared=bus)
    second.start_watching("training")
    second.observe("training", "u1", 4)  # a page kept on the second under version 4
    async with following(bus, second.heard_from_other, name="known_versions"):
        await _settle()

        first.observe("training", "u1", 5)  # the first answered a write of the user's
        await _settle()

        assert second.current("training", "u1") == 5  # the kept page is no longer current
        first.observe("training", "u1", 3)  # an older answer moves nothing back
        await _settle()
        assert second.current("training", "u1") == 5


async def test_the_answer_that_taught_it_waits_until_it_is_out() -> None:
    bus = _SlowBus()
    known = KnownVersions(["datasets"], shared=bus)
    change_versions.start_request()

    known.observe("datasets", "u1", 9)
    known.observe("datasets", "u1", 9)  # nothing new: nothing sent
    await change_versions.published()

    assert bus.sent == [("datasets/u1", 9, None)]
