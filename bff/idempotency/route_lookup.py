"""The route a request would reach, found without running it, for an answer replayed in its
place: the representation middleware shapes an answer by its route's response model (compact
keys), and the access log and metrics name the route."""

from __future__ import annotations

from fastapi.routing import RouteContext, iter_route_contexts
from starlette.routing import Match
from starlette.types import Scope


class RouteLookup:
    """Matches requests against the routes of the app in their scope (listed on first use)."""

    def __init__(self) -> None:
        self._routes: list[RouteContext] | None = None

    def enter(self, scope: Scope) -> None:
        """Set `scope["route"]` to the route that serves this method and path, if one does."""
        if self._routes is None:
            self._routes = [c for c in iter_route_contexts(scope["app"].routes) if c.methods]
        method = scope["method"]
        for route in self._routes:
            if method in (route.methods or ()) and route.matches(scope)[0] is Match.FULL:
                scope["route"] = route  # its path and response model are the full route's
                return
