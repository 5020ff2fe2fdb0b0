"""A served process keeps the cyclic collector out of its way: what is alive when the app is
built is frozen, and young collections are rare."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from services.kit.gc_tuning import YOUNG_THRESHOLD, settle_for_serving


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restored_gc")
def test_settling_freezes_what_is_alive_and_raises_the_young_threshold() -> None:
    settle_for_serving()

    assert gc.get_threshold()[0] == YOUNG_THRESHOLD
    assert gc.get_freeze_count() > 0
    # Garbage made after settling is still collected.
    cycle: list[object] = []
    cycle.append(cycle)
    del cycle
    assert gc.collect() >= 1
