"""Field selection: `?fields=id,name,metrics.accuracy` keeps only those paths of a response.

Paths are checked against the key map of the response's resource, so an unknown field is
named in a 400 before anything is trimmed. On a page (`items` + `next_cursor`) the paths
select inside each item, and the page's own fields stay. Inside a free-form map (a "raw" or
"map" value such as `metrics`) any key may be named.
"""

from __future__ import annotations

from typing import Any

# The codec's aliases, declared here too: the codec imports this module to decode selections.
Spec = dict[str, Any]
Resources = dict[str, dict[str, Any]]

FieldTree = dict[str, "FieldTree"]
"""Selected paths as a tree; an empty subtree keeps the whole value."""

MAX_FIELDS = 100
MAX_DEPTH = 8
_WHOLE = ""  # marks a node named by a path of its own (never a field name)


def parse_fields(raw: str) -> list[str]:
    """The paths of a `fields` parameter, without blanks and duplicates, in order."""
    paths: list[str] = []
    for part in raw.split(","):
        path = part.strip()
        if path and path not in paths:
            paths.append(path)
    return paths


def page_item_spec(spec: Spec, resources: Resources) -> Spec | None:
    """The item spec when `spec` is a page of objects (an `items` list plus page fields)."""
    if spec["t"] != "obj":
        return None
    items = resources[spec["ref"]]["fields"].get("items")
    if items is None or items["t"] != "list":
        return None
    of: Spec = items["of"]
    return of


def build_tree(paths: list[str], spec: Spec, resources: Resources) -> tuple[FieldTree, list[str]]:
    """The selection tree of `paths` under `spec`, and the paths that name unknown fields."""
    tree: FieldTree = {}
    unknown: list[str] = []
    for path in paths:
        parts = path.split(".")
        if len(parts) > MAX_DEPTH or not _known(parts, spec, resources):
            unknown.append(path)
            continue
        node = tree
        for part in parts:
            node = node.setdefault(part, {})
        node[_WHOLE] = {}
    return _prune(tree), unknown


def response_tree(
    paths: list[str], spec: Spec, resources: Resources
) -> tuple[FieldTree, list[str]]:
    """The selection tree of a whole response, and the unknown paths.

    On a page the paths select inside each item and the page's own fields stay whole."""
    item_spec = page_item_spec(spec, resources)
    tree, unknown = build_tree(paths, item_spec or spec, resources)
    if item_spec is None or not tree:
        return tree, unknown
    page: FieldTree = {name: {} for name in resources[spec["ref"]]["fields"]}
    page["items"] = tree
    return page, unknown


def select(value: Any, tree: FieldTree) -> Any:
    """`value` with only the selected paths (lists select inside each element)."""
    if not tree or value is None:
        return value
    if isinstance(value, list):
        return [select(item, tree) for item in value]
    if not isinstance(value, dict):
        return value
    return {name: select(value[name], sub) for name, sub in tree.items() if name in value}


def _known(parts: list[str], spec: Spec, resources: Resources) -> bool:
    current: Spec | None = spec
    for part in parts:
        current = _element(current, resources)
        if current is None:
            return False
        if current["t"] in ("raw", "map"):
            return True  # free-form keys below this point
        if current["t"] != "obj":
            return False
        current = resources[current["ref"]]["fields"].get(part)
    return current is not None


def _element(spec: Spec | None, _resources: Resources) -> Spec | None:
    while spec is not None and spec["t"] == "list":
        spec = spec["of"]
    return spec


def _prune(tree: FieldTree) -> FieldTree:
    # `a` and `a.b` together select all of `a`.
    return {name: ({} if _WHOLE in sub else _prune(sub)) for name, sub in tree.items()}
