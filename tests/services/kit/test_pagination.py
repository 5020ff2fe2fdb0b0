from __future__ import annotations

import pytest

from services.kit.errors import ApiError
from services.kit.pagination import clamp_limit, decode_cursor, encode_cursor


def test_cursor_round_trips_and_is_opaque() -> None:
    position = {"updated_at": "2026-01-01T00:00:00+00:00", "id": "abc"}
    cursor = encode_cursor(position)
    assert "abc" not in cursor and "=" not in cursor
    assert decode_cursor(cursor) == position
    assert decode_cursor(None) is None


@pytest.mark.parametrize("bad", ["%%%", "bm90LWpzb24", "eyJ2IjoyLCJwIjp7fX0"])
def test_foreign_cursors_are_a_400(bad: str) -> None:
    with pytest.raises(ApiError) as err:
        decode_cursor(bad)
    assert (err.value.status, err.value.code) == (400, "INVALID_CURSOR")


def test_limits_are_clamped() -> None:
    assert clamp_limit(None) == 50
    assert clamp_limit(0) == 1
    assert clamp_limit(10_000) == 200
