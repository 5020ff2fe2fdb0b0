"""GET /api/v1/dashboard: everything the home screen shows, in one call."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from bff.dashboard import Dashboard, DashboardLimits, build_dashboard
from bff.dependencies import Clients, CurrentUser
from bff.settings import BffSettings

router = APIRouter(tags=["dashboard"])

DASHBOARD_CACHE_CONTROL = "private, max-age=0, stale-while-revalidate=60, stale-if-error=86400"


@router.get("/dashboard", response_model=Dashboard)
async def dashboard(
    request: Request, response: Response, user: CurrentUser, clients: Clients
) -> Dashboard:
    """The viewer's datasets, models, recent jobs and unread notifications; a section that
    fails carries its error (and the last good copy, marked stale) while the rest answer."""
    runtime = request.app.state.runtime
    settings: BffSettings = runtime.settings
    limits = DashboardLimits(
        settings.dashboard_page_size,
        settings.dashboard_section_timeout_s,
        settings.dashboard_cache_ttl_s,
    )
    # The app may show its last dashboard at once while it revalidates (ETag -> 304), and keep
    # showing it while the BFF cannot be reached.
    response.headers["Cache-Control"] = DASHBOARD_CACHE_CONTROL
    return await build_dashboard(clients, runtime.cache, user.id, limits)
