"""The fake push provider's answer latency under a test's control: held, not slept."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from tests.support.polling import eventually


@dataclass
class HeldAnswers:
    """Stands in for the fake provider's wait before it answers (PUT /_fake/latency): records
    how long each answer was to wait, and holds it until the test lets every answer go. A test
    then sees what was held, and when, without reading a clock."""

    waits: list[float] = field(default_factory=list)
    _released: asyncio.Event = field(default_factory=asyncio.Event)

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        await self._released.wait()

    def release(self) -> None:
        """Let every answer held now, and any held later, go."""
        self._released.set()

    async def until_held(self, count: int) -> None:
        """Wait until `count` answers have been held back."""

        async def holding() -> bool:
            return len(self.waits) >= count

        await eventually(holding)
