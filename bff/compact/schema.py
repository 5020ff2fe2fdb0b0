"""The key maps of every public route, collected from the app's routes once, on first use.

Any route added under /api/v1 with a `response_model` gets a key map, compaction and field
selection without doing anything.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from starlette.routing import BaseRoute

from bff.compact.codec import Resources, Spec
from bff.compact.keymap import KeyMap, KeyMapBuilder, publish


@dataclass(frozen=True, slots=True)
class CompactSchema:
    """The published key map and the spec of each response model."""

    document: KeyMap
    resources: Resources
    models: dict[str, type[BaseModel]]
    _builder: KeyMapBuilder

    @classmethod
    def from_routes(cls, routes: list[BaseRoute], prefix: str) -> CompactSchema:
        """Key maps of the response models of every route whose path starts with `prefix`."""
        builder = KeyMapBuilder()
        for path, response_model in iter_response_models(routes):
            if path.startswith(prefix) and response_model is not None:
                builder.spec(response_model)
        published = publish(builder.resources)
        return cls(published, published["resources"], dict(builder.models), builder)

    @property
    def version(self) -> str:
        """Changes with any key map."""
        version: str = self.document["version"]
        return version

    def spec_of(self, response_model: Any) -> Spec | None:
        """The spec of a route's response model, when all it names is in the key map."""
        if response_model is None:
            return None
        spec = self._builder.spec(response_model)
        known = spec["t"] != "obj" or spec["ref"] in self.resources
        return spec if known else None


def iter_response_models(routes: list[BaseRoute]) -> Iterator[tuple[str, Any]]:
    """(path, response model) of every route, through included routers."""
    for route in routes:
        contexts = getattr(route, "effective_route_contexts", None)
        if callable(contexts):  # FastAPI keeps included routers nested
            for context in contexts():
                yield str(getattr(context, "path", "")), getattr(context, "response_model", None)
            continue
        path = getattr(route, "path", None)
        if isinstance(path, str):
            yield path, getattr(route, "response_model", None)
