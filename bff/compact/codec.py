"""The compact format: encode a JSON value by its key map, and decode it back.

Only the published key map is needed (see keymap.py), so this module is also the reference
decoder for clients: `decode(payload, {"t": "obj", "ref": "Dataset"}, keys["resources"])`
gives back the plain JSON the same route answers without compaction.
Objects use short keys and drop fields whose value is the field's empty value; lists of
objects are columnar, `{"_k": [keys present], "_d": [[row values], ...]}`, where a null cell
stands for the field's empty value. In a column of timestamps each value after the first
non-null one is the difference from the previous non-null one: lists come sorted by time, so
the differences are short and compress far better than full epochs.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

Spec = dict[str, Any]
Resources = dict[str, dict[str, Any]]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
COLUMN_KEYS = "_k"
COLUMN_DATA = "_d"


class CompactError(ValueError):
    """A value does not fit its key map, or a payload is not valid compact data."""


def encode(value: Any, spec: Spec, resources: Resources) -> Any:
    """The compact form of a JSON value whose type is `spec`."""
    if value is None:
        return None
    kind = spec["t"]
    if kind == "obj":
        return _encode_object(value, resources[spec["ref"]]["fields"], resources)
    if kind == "list":
        return _encode_list(value, spec["of"], resources)
    if kind == "map":
        return {key: encode(item, spec["of"], resources) for key, item in value.items()}
    if kind == "ts":
        return _epoch_us(value)
    if kind == "uuid":
        return base64.urlsafe_b64encode(UUID(value).bytes).rstrip(b"=").decode()
    if kind == "enum":
        try:
            return spec["values"].index(value)
        except ValueError as exc:
            raise CompactError(f"{value!r} is not one of {spec['values']}") from exc
    return value


def decode(value: Any, spec: Spec, resources: Resources) -> Any:
    """The plain JSON value of a compact one whose type is `spec`."""
    if value is None:
        return spec.get("e")
    kind = spec["t"]
    if kind == "obj":
        return _decode_object(value, resources[spec["ref"]]["fields"], resources)
    if kind == "list":
        return _decode_list(value, spec["of"], resources)
    if kind == "map":
        return {key: decode(item, spec["of"], resources) for key, item in value.items()}
    if kind == "ts":
        moment = _EPOCH + value * _MICROSECOND
        return moment.isoformat().replace("+00:00", "Z")
    if kind == "uuid":
        return str(UUID(bytes=base64.urlsafe_b64decode(value + "==")))
    if kind == "enum":
        return spec["values"][value]
    return value


def is_empty(value: Any, spec: Spec) -> bool:
    """Whether a field's value is dropped from the payload."""
    return "e" in spec and value == spec["e"] and type(value) is type(spec["e"])


def _encode_object(value: dict[str, Any], fields: dict[str, Spec], resources: Resources) -> Any:
    out: dict[str, Any] = {}
    for name, item in value.items():
        spec = fields.get(name)
        if spec is None:
            raise CompactError(f"field {name!r} is not in the key map")
        if item is None or is_empty(item, spec):
            continue
        out[spec["k"]] = encode(item, spec, resources)
    return out


def _decode_object(value: dict[str, Any], fields: dict[str, Spec], resources: Resources) -> Any:
    out: dict[str, Any] = {}
    for name, spec in fields.items():
        if spec["k"] in value:
            out[name] = decode(value[spec["k"]], spec, resources)
        elif "e" in spec:
            out[name] = spec["e"]
    return out


def _encode_list(value: list[Any], of: Spec, resources: Resources) -> Any:
    if of["t"] != "obj":
        return [encode(item, of, resources) for item in value]
    fields: dict[str, Spec] = resources[of["ref"]]["fields"]
    present = [
        name
        for name, spec in fields.items()
        if any(row.get(name) is not None and not is_empty(row[name], spec) for row in value)
    ]
    unknown = {name for row in value for name in row} - fields.keys()
    if unknown:
        raise CompactError(f"fields {sorted(unknown)} are not in the key map")
    rows = [
        [
            None
            if row.get(name) is None or is_empty(row[name], fields[name])
            else encode(row[name], fields[name], resources)
            for name in present
        ]
        for row in value
    ]
    for index, name in enumerate(present):
        if fields[name]["t"] == "ts":
            _delta_code(rows, index)
    return {COLUMN_KEYS: [fields[name]["k"] for name in present], COLUMN_DATA: rows}


def _delta_code(rows: list[list[Any]], index: int) -> None:
    previous = None
    for row in rows:
        current = row[index]
        if current is None:
            continue
        row[index] = current if previous is None else current - previous
        previous = current


def _delta_decode(rows: list[list[Any]], index: int) -> None:
    previous = None
    for row in rows:
        if row[index] is None:
            continue
        row[index] = row[index] if previous is None else previous + row[index]
        previous = row[index]


def _decode_list(value: Any, of: Spec, resources: Resources) -> list[Any]:
    if of["t"] != "obj":
        return [decode(item, of, resources) for item in value]
    if not isinstance(value, dict) or COLUMN_KEYS not in value or COLUMN_DATA not in value:
        raise CompactError("a list of objects must be columnar: {'_k': [...], '_d': [...]}")
    fields: dict[str, Spec] = resources[of["ref"]]["fields"]
    by_key = {spec["k"]: name for name, spec in fields.items()}
    names = [by_key[key] for key in value[COLUMN_KEYS]]
    missing = {
        name: spec["e"] for name, spec in fields.items() if name not in names and "e" in spec
    }
    rows = [list(row) for row in value[COLUMN_DATA]]
    for index, name in enumerate(names):
        if fields[name]["t"] == "ts":
            _delta_decode(rows, index)
    decoded = []
    for row in rows:
        item = dict(missing)
        for name, cell in zip(names, row, strict=True):
            item[name] = decode(cell, fields[name], resources)
        decoded.append(item)
    return decoded


def _epoch_us(value: Any) -> int:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if not isinstance(moment, datetime):
        raise CompactError(f"{value!r} is not a timestamp")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _MICROSECOND
