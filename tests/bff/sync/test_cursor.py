"""The sync cursor a phone keeps: it round-trips, stays small, reads the first form, and a
cursor that is not ours is refused."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bff.sync.cursor import CURSOR_KINDS, CURSOR_SOURCES, SyncCursor
from bff.sync.entities import BY_NAME, SOURCES
from proto.common import INT64_MAX
from services.kit.errors import ApiError
from services.kit.paging import encode_cursor

# Small positions repeat, as kinds of one source at its feed's end do; large ones reach the limit.
positions = st.dictionaries(
    st.sampled_from(CURSOR_KINDS),
    st.integers(min_value=1, max_value=3) | st.integers(min_value=1, max_value=INT64_MAX),
)
snapshots = st.sets(st.sampled_from(CURSOR_SOURCES))


def test_every_kind_and_source_has_a_place_in_the_packed_form() -> None:
    assert sorted(CURSOR_KINDS) == sorted(BY_NAME)
    assert sorted(CURSOR_SOURCES) == sorted(SOURCES)


@given(positions, snapshots)
def test_a_cursor_decodes_to_what_was_encoded(kinds: dict[str, int], sources: set[str]) -> None:
    raw = SyncCursor(dict(kinds), set(sources)).encode()
    decoded = SyncCursor.decode(raw)
    assert decoded.positions == kinds
    assert decoded.snapshots == sources
    assert raw.isascii() and "=" not in raw and "+" not in raw and "/" not in raw


def test_a_caught_up_cursor_is_a_few_dozen_characters() -> None:
    # Each source's kinds at its feed's six-digit end, as a phone that caught up holds them.
    at = {"datasets": 284_113, "training": 9_870, "inference": 120_554}
    at |= {"notifications": 733_901, "bff": 4_410}
    kinds = {kind: at[BY_NAME[kind].source] for kind in CURSOR_KINDS}
    packed = SyncCursor(kinds).encode()
    first_form = encode_cursor({"k": kinds, "s": []})
    assert len(packed) <= 32
    assert len(first_form) > 10 * len(packed)
    assert SyncCursor.decode(packed).positions == kinds
    del kinds["sessions"]  # the last kinds at the position of the one before them
    assert SyncCursor.decode(SyncCursor(kinds).encode()).positions == kinds


def test_a_cursor_of_the_first_form_is_still_read() -> None:
    raw = encode_cursor({"k": {"labels": 12, "sessions": 3, "devices": 0}, "s": ["datasets"]})
    cursor = SyncCursor.decode(raw)
    assert cursor.positions == {"labels": 12, "sessions": 3}
    assert cursor.snapshots == {"datasets"}
    again = SyncCursor.decode(cursor.encode())  # and the phone's next one is packed
    assert (again.positions, again.snapshots) == (cursor.positions, cursor.snapshots)


def _packed(*body: int) -> str:
    return base64.urlsafe_b64encode(bytes((2, *body))).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "raw",
    [
        "garbage",
        "%%%",
        encode_cursor({"k": {"datasets": -1}, "s": []}),
        encode_cursor({"k": {"nonsense": 1}, "s": []}),
        _packed(),  # no snapshot mask
        _packed(0x80),  # a varint cut short
        _packed(1 << len(CURSOR_SOURCES)),  # a source that does not exist
        _packed(0, *([0] * (len(CURSOR_KINDS) + 1))),  # more positions than kinds
        _packed(0, 1),  # a position below zero (zigzag 1 is -1)
        _packed(0, *([0xFF] * 10), 0x01),  # a varint longer than 64 bits
    ],
)
def test_a_cursor_that_is_not_ours_is_refused(raw: str) -> None:
    with pytest.raises(ApiError) as refused:
        SyncCursor.decode(raw)
    assert refused.value.code == "INVALID_CURSOR"
