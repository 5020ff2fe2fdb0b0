"""Each columnar coding round-trips, is chosen only where it pays, and bad payloads are refused."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bff.compact.codec import CompactError, decode, encode

# A resource with one field of each kind the codings treat differently.
_RESOURCES: dict[str, dict[str, Any]] = {
    "Row": {
        "fields": {
            "id": {"k": "a", "t": "uuid"},
            "name": {"k": "b", "t": "raw", "e": ""},
            "tags": {"k": "c", "t": "list", "of": {"t": "raw"}, "e": []},
            "scores": {"k": "d", "t": "raw", "e": None},
            "created_at": {"k": "e", "t": "ts"},
            "started_at": {"k": "f", "t": "ts", "e": None},
            "finished_at": {"k": "g", "t": "ts", "e": None},
            "state": {"k": "h", "t": "enum", "values": ["new", "done"]},
            "empty": {"k": "i", "t": "raw", "e": None},
        }
    },
    "Rows": {"fields": {"items": {"k": "a", "t": "list", "of": {"t": "obj", "ref": "Row"}}}},
}
_SPEC = {"t": "obj", "ref": "Rows"}
_WORDS = st.sampled_from(["churned", "species", "price", "é ünïcode", ""])
_US = st.integers(0, 4_000_000_000_000_000)
_ROW = st.fixed_dictionaries(
    {
        "id": st.uuids().map(str),
        "created_at": _US,
        "state": st.sampled_from(["new", "done"]),
    },
    optional={
        "name": _WORDS,
        "tags": st.lists(_WORDS, max_size=4),
        "scores": st.none()
        | st.dictionaries(
            st.sampled_from(["accuracy", "f1", "depth"]),
            st.none()
            | st.floats(allow_nan=False, allow_infinity=False)
            | st.integers(-(2**53), 2**53),
            max_size=3,
        )
        | st.integers(-(2**53), 2**53),
        "started_at": st.none() | _US,
        "finished_at": st.none() | _US,
        "empty": st.none(),
    },
)


def _plain(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The JSON a route answers: every field present, timestamps as ISO text."""
    fields = _RESOURCES["Row"]["fields"]
    items = []
    for row in rows:
        item = {name: row.get(name, spec.get("e")) for name, spec in fields.items()}
        for name in ("created_at", "started_at", "finished_at"):
            if item[name] is not None:
                item[name] = decode(item[name], {"t": "ts"}, _RESOURCES)
        items.append(item)
    return {"items": items}


def _round_trip(plain: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    wire = orjson.loads(orjson.dumps(encode(plain, _SPEC, _RESOURCES)))
    return wire["a"], decode(wire, _SPEC, _RESOURCES)


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(_ROW, max_size=25))
def test_any_list_round_trips(rows: list[dict[str, Any]]) -> None:
    plain = _plain(rows)

    _columns, decoded = _round_trip(plain)

    assert decoded == plain


def _rows(count: int, **overrides: Any) -> list[dict[str, Any]]:
    return [
        {
            "id": f"00000000-0000-4000-8000-{n:012d}",
            "created_at": 1_767_323_045_000_000 - n * 3_600_000_000,
            "state": "done",
            **{name: value(n) if callable(value) else value for name, value in overrides.items()},
        }
        for n in range(count)
    ]


def test_repeated_strings_are_sent_once() -> None:
    rows = _rows(6, name=lambda n: ["churned", "species"][n % 2], tags=["age", "income"])

    columns, decoded = _round_trip(_plain(rows))

    assert columns["_s"] == {"b": ["churned", "species"], "c": ["age", "income"]}
    assert columns["_d"][columns["_k"].index("b")] == [0, 1, 0, 1, 0, 1]
    assert columns["_d"][columns["_k"].index("c")] == [[0, 1]] * 6
    assert decoded == _plain(rows)


def test_unique_strings_are_not_dictionary_coded() -> None:
    columns, _ = _round_trip(_plain(_rows(4, name=lambda n: f"dataset {n}")))

    assert "_s" not in columns


def test_objects_of_a_column_share_their_keys() -> None:
    rows = _rows(3, scores=lambda n: {"accuracy": 0.5 + n, "f1": 0.25} if n else {"f1": 0.1})

    columns, decoded = _round_trip(_plain(rows))

    assert columns["_m"] == {"d": ["f1", "accuracy"]}
    assert columns["_d"][columns["_k"].index("d")] == [[0.1], [0.25, 1.5], [0.25, 2.5]]
    assert decoded == _plain(rows)


def test_objects_holding_nulls_stay_as_they_are() -> None:
    rows = _rows(2, scores={"depth": None, "f1": 0.5})

    columns, decoded = _round_trip(_plain(rows))

    assert "_m" not in columns
    assert decoded == _plain(rows)


def test_a_timestamp_close_to_an_earlier_one_of_its_row_is_coded_against_it() -> None:
    rows = _rows(4, started_at=lambda n: 1_767_323_045_000_000 - n * 3_600_000_000 + 1_500_000)
    rows[2]["started_at"] = None

    columns, decoded = _round_trip(_plain(rows))

    assert columns["_r"] == {"f": "e"}
    assert columns["_d"][columns["_k"].index("f")] == [1_500_000, 1_500_000, None, 1_500_000]
    assert columns["_d"][columns["_k"].index("e")][1:] == [-3_600_000_000] * 3
    assert decoded == _plain(rows)


def test_rows_with_no_field_present_keep_their_count() -> None:
    resources: dict[str, dict[str, Any]] = {
        "Empty": {"fields": {"note": {"k": "a", "t": "raw", "e": None}}},
        "List": {"fields": {"items": {"k": "a", "t": "list", "of": {"t": "obj", "ref": "Empty"}}}},
    }
    plain = {"items": [{"note": None}] * 3}
    spec = {"t": "obj", "ref": "List"}

    encoded = encode(plain, spec, resources)

    assert encoded == {"a": {"_k": [], "_d": [], "_n": 3}}
    assert decode(encoded, spec, resources) == plain


@pytest.mark.parametrize(
    "columns",
    [
        [["a", "b"]],  # rows as the old row-major layout: not a dict
        {"_k": ["a"], "_d": []},  # a key without its column
        {"_k": ["a", "e"], "_d": [["x"], ["y", "z"]]},  # columns of different lengths
        {"_k": ["zz"], "_d": [[1]]},  # an unknown key
        {"_k": ["e", "f"], "_d": [[1], [2]], "_r": {"e": "f"}},  # coded against a later column
        {"_k": ["b"], "_d": [[7]], "_s": {"b": ["only"]}},  # an index out of the dictionary
    ],
)
def test_malformed_columns_are_refused(columns: Any) -> None:
    with pytest.raises(CompactError):
        decode({"a": columns}, _SPEC, _RESOURCES)
