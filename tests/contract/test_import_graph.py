"""The shape of the code: layers import downwards only, and no modules import each other.

`proto/` (the contracts) and `services/kit/` (what every service shares) are below every app:
an arrow from them up into the BFF or a service would make each deployable ship the others.
A cycle makes a module's import order matter and its pieces impossible to test alone.
Imports inside functions and under TYPE_CHECKING count too: they are still dependencies.
"""

from __future__ import annotations

from tests.support.import_graph import graph

# The apps: what the shared layers may never import.
APPS = ("bff", *(f"services.{name}" for name in ("datasets", "training", "inference")))
APPS += ("services.notifications", "services.fake_push")
SHARED = ("proto", "services.kit")
GRAPHQL_TYPES = ("bff.graphql.types",)


def _within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def test_the_shared_layers_import_no_app() -> None:
    upward = [
        f"{module} -> {target}"
        for module, targets in graph().items()
        if _within(module, SHARED)
        for target in sorted(targets)
        if _within(target, APPS)
    ]
    assert upward == []


def test_no_modules_import_each_other() -> None:
    edges = graph()
    # A package's __init__ re-exporting its modules is not a cycle of logic: leave out the
    # arrows from a package to what lies inside it.
    # The GraphQL object types are a graph of their own (a dataset has versions, a version
    # its dataset): they name each other through strawberry.lazy, resolved when the schema is
    # built, and load each other in resolvers.
    for module, targets in edges.items():
        targets -= {t for t in targets if t.startswith(module + ".")}
        if _within(module, GRAPHQL_TYPES):
            targets -= {t for t in targets if _within(t, GRAPHQL_TYPES)}
    assert _cycles(edges) == []


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
