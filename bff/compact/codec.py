"""The compact format: encode a JSON value by its key map, and decode it back.

Only the published key map is needed (see keymap.py), so this module is also the reference
decoder for clients: `decode(payload, {"t": "obj", "ref": "Dataset"}, keys["resources"])`
gives back the plain JSON the same route answers without compaction. A client that asked for
`?fields=` passes the same paths, `decode(payload, spec, resources, fields=["id", "name"])`:
a dropped empty value is restored only for a field it selected, as the plain answer has it.
Objects use short keys and drop fields whose value is the field's empty value; enums are
indexes into their values and timestamps epoch microseconds; lists of objects are sent
column by column (see columns.py); UUIDs are the 22-character base64url of their 16 bytes.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from bff.compact.columns import ColumnsError, decode_columns, encode_columns, is_empty
from bff.compact.fields import FieldTree, parse_fields, response_tree

Spec = dict[str, Any]
Resources = dict[str, dict[str, Any]]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


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


def decode(
    value: Any, spec: Spec, resources: Resources, fields: str | Sequence[str] | None = None
) -> Any:
    """The plain JSON value of a compact one whose type is `spec`.

    `fields`: the request's `fields` parameter (as sent, or its paths), when it had one."""
    paths = parse_fields(fields) if isinstance(fields, str) else list(fields or ())
    tree: FieldTree = {}
    if paths:
        tree, unknown = response_tree(paths, spec, resources)
        if unknown:
            raise CompactError(f"unknown fields: {', '.join(unknown)}")
    return _decode(value, spec, resources, tree)


def _decode(value: Any, spec: Spec, resources: Resources, tree: FieldTree) -> Any:
    # `tree` is the selection below this value; empty selects all of it.
    if value is None:
        return spec.get("e")
    kind = spec["t"]
    if kind == "obj":
        return _decode_object(value, resources[spec["ref"]]["fields"], resources, tree)
    if kind == "list":
        return _decode_list(value, spec["of"], resources, tree)
    if kind == "map":
        # Field selection names a map's own keys (see fields.select).
        return {
            key: _decode(item, spec["of"], resources, tree.get(key, {}))
            for key, item in value.items()
        }
    if kind == "ts":
        moment = _EPOCH + value * _MICROSECOND
        return moment.isoformat().replace("+00:00", "Z")
    if kind == "uuid":
        return str(UUID(bytes=base64.urlsafe_b64decode(value + "==")))
    if kind == "enum":
        return spec["values"][value]
    return value


def _encode_object(value: dict[str, Any], fields: dict[str, Spec], resources: Resources) -> Any:
    out: dict[str, Any] = {}
    for name, item in value.items():
        spec = fields.get(name)
        if spec is None:
            raise CompactError(f"field {name!r} is not in the key map")
        if is_empty(item, spec):
            continue
        out[spec["k"]] = encode(item, spec, resources)
    return out


def _decode_object(
    value: dict[str, Any], fields: dict[str, Spec], resources: Resources, tree: FieldTree
) -> Any:
    out: dict[str, Any] = {}
    for name, spec in _selected(fields, tree).items():
        if spec["k"] in value:
            out[name] = _decode(value[spec["k"]], spec, resources, tree.get(name, {}))
        elif "e" in spec:
            out[name] = spec["e"]
    return out


def _selected(fields: dict[str, Spec], tree: FieldTree) -> dict[str, Spec]:
    """The fields a selection keeps (all of them when it selects the whole value)."""
    if not tree:
        return fields
    return {name: spec for name, spec in fields.items() if name in tree}


def _encode_list(value: list[Any], of: Spec, resources: Resources) -> Any:
    if of["t"] != "obj":
        return [encode(item, of, resources) for item in value]
    fields: dict[str, Spec] = resources[of["ref"]]["fields"]
    unknown = {name for row in value for name in row} - fields.keys()
    if unknown:
        raise CompactError(f"fields {sorted(unknown)} are not in the key map")
    return encode_columns(value, fields, lambda item, spec: encode(item, spec, resources))


def _decode_list(value: Any, of: Spec, resources: Resources, tree: FieldTree) -> list[Any]:
    if of["t"] != "obj":
        return [_decode(item, of, resources, tree) for item in value]
    fields: dict[str, Spec] = resources[of["ref"]]["fields"]
    try:
        names, columns, count = decode_columns(value, fields)
    except ColumnsError as exc:
        raise CompactError(str(exc)) from exc
    missing = {
        name: spec["e"]
        for name, spec in _selected(fields, tree).items()
        if name not in names and "e" in spec
    }
    decoded = [dict(missing) for _ in range(count)]
    for name, column in zip(names, columns, strict=True):
        spec, below = fields[name], tree.get(name, {})
        for item, cell in zip(decoded, column, strict=True):
            item[name] = _decode(cell, spec, resources, below)
    return decoded


def _epoch_us(value: Any) -> int:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if not isinstance(moment, datetime):
        raise CompactError(f"{value!r} is not a timestamp")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _MICROSECOND
