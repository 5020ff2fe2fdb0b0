"""The shape of the code: layers import downwards only, and no modules import each other.

`proto/` (the contracts) and `services/kit/` (what every service shares) are below every app:
an arrow from them up into the BFF or a service would make each deployable ship the others.
A cycle makes a module's import order matter and its pieces impossible to test alone.
Imports inside functions and under TYPE_CHECKING count too: they are still dependencies.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("bff", "services", "proto", "infra")
# The apps: what the shared layers may never import.
APPS = ("bff", *(f"services.{name}" for name in ("datasets", "training", "inference")))
APPS += ("services.notifications", "services.fake_push")
SHARED = ("proto", "services.kit")


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue  # alembic loads these by path, outside the import graph
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> Iterator[str]:
    """The modules of ours that `name` imports (a `from package import module` names the
    module, a `from module import thing` the module)."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                yield target


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: set(_imports(name, path, modules)) for name, path in modules.items()}


def _within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def test_the_shared_layers_import_no_app() -> None:
    upward = [
        f"{module} -> {target}"
        for module, targets in _graph().items()
        if _within(module, SHARED)
        for target in sorted(targets)
        if _within(target, APPS)
    ]
    assert upward == []


def test_no_modules_import_each_other() -> None:
    graph = _graph()
    # A package's __init__ re-exporting its modules is not a cycle of logic: leave out the
    # arrows from a package to what lies inside it.
    for module, targets in graph.items():
        targets -= {t for t in targets if t.startswith(module + ".")}
    assert _cycles(graph) == []


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups
