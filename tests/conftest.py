"""How `make test` spreads the suite over the machine's two cores (pytest-xdist, loadgroup):
each test module runs whole on one worker (its module fixtures are made once), and the
integration tests, which start the whole system and time what it does, all run on one worker,
one after another, as they would alone."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        module = item.nodeid.split("::")[0]
        group = "integration" if item.get_closest_marker("integration") else module
        item.add_marker(pytest.mark.xdist_group(group))
