"""A poke of the sync backbone: the viewer's data changed at a service; time to sync."""

from __future__ import annotations

import strawberry


@strawberry.type
class DataChange:
    """The viewer's data at `service` now stands at `version` (POST /api/v1/sync to read it);
    changes that come in a burst are told once, at their newest version."""

    service: str
    version: int
