"""Routers that turn a request away by its path before trying each of their routes.

FastAPI (0.16x) keeps included routers nested and, for every request, asks each of them to
match it route by route: with sixty routes, finding the last one cost 400-500 us of CPU per
request. A `PrefixedRouter` declines at once a path that cannot lie under its prefix (the path
of each of its routes contains the prefix as a whole segment), so a request is matched
against the routes of one router only. A `FixedPathsRouter` (the kit's probes, watch and
feed, included before every service's own routes) does the same for routes without path
parameters: any other path is declined at once.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.routing import Match
from starlette.types import Scope


class PrefixedRouter(APIRouter):
    """An APIRouter with a prefix, declining paths outside it before matching any route."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        prefix = self.prefix
        if prefix:
            path: str = scope.get("path", "")
            if not path.endswith(prefix) and f"{prefix}/" not in path:
                return Match.NONE, {}
        return super().matches(scope)


class FixedPathsRouter(APIRouter):
    """An APIRouter whose routes have fixed paths, declining any other path before matching."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        path: str = scope.get("path", "")
        for route in self.routes:
            own = getattr(route, "path", None)
            # A route with parameters cannot be ruled out by its path; endswith: the scope's
            # path may carry a root path before the route's own.
            if not isinstance(own, str) or "{" in own or path.endswith(own):
                return super().matches(scope)
        return Match.NONE, {}
