"""List rows as contract items: every column but the change version and what is left out."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from services.kit.change_versions import VERSION_KEY, rows_data


def _rows(select: str) -> list[sa.Row[Any]]:
    engine = sa.create_engine("sqlite://")
    with engine.connect() as connection:
        return list(connection.execute(sa.text(select)).all())


def test_items_hold_every_column_but_the_version_in_order() -> None:
    rows = _rows(
        f"SELECT 1 AS id, 'a' AS name, 7 AS {VERSION_KEY}, 3 AS unread "
        f"UNION ALL SELECT 2, 'b', 7, 3"
    )

    items = rows_data(rows)

    assert items == [{"id": 1, "name": "a", "unread": 3}, {"id": 2, "name": "b", "unread": 3}]
    assert list(items[0]) == ["id", "name", "unread"]
    assert items[0] is not items[1]


@pytest.mark.parametrize(
    ("select", "leave_out", "expected"),
    [
        (f"SELECT 1 AS id, 5 AS {VERSION_KEY}, 3 AS unread", ("unread",), [{"id": 1}]),
        ("SELECT 1 AS id, 'a' AS name", (), [{"id": 1, "name": "a"}]),
        ("SELECT 1 AS id, 'a' AS name", ("name",), [{"id": 1}]),
        ("SELECT 1 AS id WHERE 0", (), []),
    ],
)
def test_what_is_left_out_and_rows_without_a_version(
    select: str, leave_out: tuple[str, ...], expected: list[dict[str, Any]]
) -> None:
    assert rows_data(_rows(select), leave_out) == expected
