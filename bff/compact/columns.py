"""The columnar coding of a list of objects, as the compact format sends it.

    {"_k": [short keys of the fields present], "_d": [one list of cells per key],
     "_s": {key: [strings]}, "_m": {key: [map keys]}, "_r": {key: base key}, "_n": rows}

The list is sent column by column (`_d[i]` holds field `_k[i]` of every row): values of one
field sit side by side, so a compressor sees runs of alike numbers, ids and words. A null
cell stands for the field's empty value. Every other member is present only where it pays:

- `_s` (string dictionary): the column's strings, or the strings inside its lists of
  strings, are sent once each; a cell is an index (or a list of indexes) into that list.
- `_m` (map columns): the column's objects share one list of keys; a cell is the list of its
  values in that order, null where the object lacks the key (only used for columns whose
  objects hold no null values), trailing nulls left out.
- timestamps (epoch microseconds): a column is delta-coded, each value after the first
  non-null one being the difference from the previous non-null one; or, when named in `_r`,
  each value is the difference from the same row's value of the base column (an earlier
  timestamp column), or the value itself where that base is null. The encoder picks
  whichever coding has the fewest digits: `started_at` is seconds after `created_at`.
- `_n`: the number of rows, only when no field is present (every row is empty).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Spec = dict[str, Any]
Cells = list[Any]
EncodeValue = Callable[[Any, Spec], Any]

KEYS = "_k"
DATA = "_d"
STRINGS = "_s"
MAPS = "_m"
RELATIVE = "_r"
ROWS = "_n"


class ColumnsError(ValueError):
    """A payload is not a valid columnar list."""


def encode_columns(
    rows: list[dict[str, Any]], fields: dict[str, Spec], encode_value: EncodeValue
) -> dict[str, Any]:
    """The columnar form of `rows`, whose fields are described by `fields`."""
    keys: list[str] = []
    columns: list[Cells] = []
    times: list[bool] = []
    for name, spec in fields.items():
        column = _column(rows, name, spec, encode_value)
        if any(cell is not None for cell in column):  # a field empty in every row is left out
            keys.append(spec["k"])
            columns.append(column)
            times.append(spec["t"] == "ts")
    out: dict[str, Any] = {KEYS: keys, DATA: columns}
    strings, maps, relative = {}, {}, {}
    absolute = list(columns)  # timestamp columns are coded against each other's plain values
    for index, key in enumerate(keys):
        column = absolute[index]
        if times[index]:
            base = _best_time_base(absolute, index, times)
            if base is None:
                columns[index] = _delta_coded(column)
            else:
                columns[index] = _time_code(column, absolute[base])
                relative[key] = keys[base]
        elif (map_keys := _map_keys(column)) is not None:
            maps[key] = map_keys
            columns[index] = [_map_cell(cell, map_keys) for cell in column]
        elif (dictionary := _dictionary(column)) is not None:
            strings[key] = dictionary
            columns[index] = _index_cells(column, dictionary)
    for member, value in ((STRINGS, strings), (MAPS, maps), (RELATIVE, relative)):
        if value:
            out[member] = value
    if not keys and rows:
        out[ROWS] = len(rows)
    return out


def decode_columns(value: Any, fields: dict[str, Spec]) -> tuple[list[str], list[Cells], int]:
    """The field names, the cells of each (still in the values' compact form) and the row count.

    Undoes the columnar codings; the caller decodes each cell by its field's spec."""
    if not isinstance(value, dict) or not isinstance(value.get(KEYS), list):
        raise ColumnsError("a list of objects must be columnar: {'_k': [...], '_d': [...]}")
    by_key = {spec["k"]: name for name, spec in fields.items()}
    keys: list[str] = value[KEYS]
    columns = value.get(DATA)
    if any(key not in by_key for key in keys) or not isinstance(columns, list):
        raise ColumnsError(f"unknown keys or no data in {keys}")
    if len(columns) != len(keys) or any(not isinstance(c, list) for c in columns):
        raise ColumnsError("`_d` must hold one list of cells per key")
    count = len(columns[0]) if columns else int(value.get(ROWS, 0))
    if any(len(column) != count for column in columns):
        raise ColumnsError("every column must have one cell per row")
    names = [by_key[key] for key in keys]
    strings, maps = value.get(STRINGS, {}), value.get(MAPS, {})
    relative = value.get(RELATIVE, {})
    decoded: list[Cells] = []
    for key, column in zip(keys, columns, strict=True):
        if fields[by_key[key]]["t"] == "ts":
            base = relative.get(key)
            if base is None:
                decoded.append(_delta_decode(column))
            elif base in keys[: len(decoded)] and fields[by_key[base]]["t"] == "ts":
                decoded.append(_time_decode(column, decoded[keys.index(base)]))
            else:
                raise ColumnsError(f"{key!r} is coded against {base!r}, not an earlier timestamp")
        elif key in maps:
            decoded.append([_map_value(cell, maps[key]) for cell in column])
        elif key in strings:
            decoded.append([_string_value(cell, strings[key]) for cell in column])
        else:
            decoded.append(list(column))
    return names, decoded, count


def _column(rows: list[dict[str, Any]], name: str, spec: Spec, encode_value: EncodeValue) -> Cells:
    """A field's cells: its compact values, null where a row holds the empty value."""
    cells = [row.get(name) for row in rows]
    if "e" in spec:
        empty = spec["e"]
        cells = [None if cell == empty and type(cell) is type(empty) else cell for cell in cells]
    if spec["t"] == "raw":
        return cells  # sent as they are
    return [None if cell is None else encode_value(cell, spec) for cell in cells]


def is_empty(value: Any, spec: Spec) -> bool:
    """Whether a field's value is dropped from the payload (null, or the field's empty value)."""
    if value is None:
        return True
    return "e" in spec and value == spec["e"] and type(value) is type(spec["e"])


def _digits(cells: Cells) -> int:
    return sum(len(str(abs(cell))) for cell in cells if cell is not None)


def _best_time_base(columns: list[Cells], index: int, times: list[bool]) -> int | None:
    """The earlier timestamp column that codes this one in fewest digits (None: delta)."""
    column = columns[index]
    best, best_cost = None, _digits(_delta_coded(column))
    for base in range(index):
        if times[base]:
            cost = _digits(_time_code(column, columns[base]))
            if cost < best_cost:
                best, best_cost = base, cost
    return best


def _time_code(column: Cells, base: Cells) -> Cells:
    return [
        cell if cell is None or origin is None else cell - origin
        for cell, origin in zip(column, base, strict=True)
    ]


def _time_decode(column: Cells, base: Cells) -> Cells:
    return [
        cell if cell is None or origin is None else cell + origin
        for cell, origin in zip(column, base, strict=True)
    ]


def _delta_coded(column: Cells) -> Cells:
    coded, previous = list(column), None
    for index, current in enumerate(column):
        if current is None:
            continue
        coded[index] = current if previous is None else current - previous
        previous = current
    return coded


def _delta_decode(column: Cells) -> Cells:
    decoded, previous = list(column), None
    for index, cell in enumerate(decoded):
        if cell is None:
            continue
        decoded[index] = cell if previous is None else previous + cell
        previous = decoded[index]
    return decoded


def _map_keys(column: Cells) -> list[str] | None:
    """The shared keys of a column of objects that hold no nulls (None: not such a column)."""
    keys: dict[str, None] = {}
    cells = [cell for cell in column if cell is not None]
    if not cells or not all(isinstance(cell, dict) for cell in cells):
        return None
    for cell in cells:
        if any(item is None for item in cell.values()):
            return None  # a null value would read as a missing key
        keys.update(dict.fromkeys(cell))
    return list(keys)


def _map_cell(cell: dict[str, Any] | None, keys: list[str]) -> list[Any] | None:
    if cell is None:
        return None
    values = [cell.get(key) for key in keys]
    while values and values[-1] is None:
        values.pop()
    return values


def _map_value(cell: Any, keys: list[str]) -> dict[str, Any] | None:
    if cell is None:
        return None
    if not isinstance(cell, list) or len(cell) > len(keys):
        raise ColumnsError(f"a map cell must be a list of at most {len(keys)} values")
    return {key: item for key, item in zip(keys, cell, strict=False) if item is not None}


def _dictionary(column: Cells) -> list[str] | None:
    """The distinct strings of a column of strings (or lists of strings), when coding pays."""
    items: list[str] = []
    for cell in column:
        if isinstance(cell, str):
            items.append(cell)
        elif isinstance(cell, list):
            items.extend(cell)
        elif cell is not None:
            return None
    if not items or not all(isinstance(item, str) for item in items):
        return None
    found = dict.fromkeys(items)
    plain = sum(len(item) + 3 for item in items)  # quotes and comma
    indexes = sum(len(str(n)) + 1 for n in range(len(found)))  # the longest they can be
    coded = sum(len(item) + 3 for item in found) + len(items) * (indexes // len(found) + 1)
    return list(found) if coded < plain else None


def _index_cells(column: Cells, dictionary: list[str]) -> Cells:
    index = {item: n for n, item in enumerate(dictionary)}
    return [
        None if cell is None else index[cell] if isinstance(cell, str) else [index[i] for i in cell]
        for cell in column
    ]


def _string_value(cell: Any, dictionary: list[str]) -> Any:
    try:
        if cell is None:
            return None
        if isinstance(cell, list):
            return [dictionary[item] for item in cell]
        return dictionary[cell]
    except (IndexError, TypeError) as exc:
        raise ColumnsError(f"{cell!r} is not an index into the column's strings") from exc
