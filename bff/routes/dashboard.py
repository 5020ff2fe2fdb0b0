"""GET /api/v1/dashboard: everything the home screen shows, in one call."""

from __future__ import annotations

from bff.compact.representation import Represented
from bff.dashboard import Dashboard, DashboardLimits, build_dashboard
from bff.dependencies import BffDep, CurrentUser
from services.kit.routing import PrefixedRouter

router = PrefixedRouter(prefix="/dashboard", tags=["dashboard"])

DASHBOARD_CACHE_CONTROL = "private, max-age=0, stale-while-revalidate=60, stale-if-error=86400"


@router.get("", response_model=Dashboard)
async def dashboard(user: CurrentUser, bff: BffDep) -> Represented:
    """The viewer's datasets, models, recent jobs and unread notifications; a section that
    fails carries its error (and the last good copy, marked stale) while the rest answer."""
    settings = bff.settings
    limits = DashboardLimits(settings.dashboard_page_size, settings.dashboard_section_timeout_s)
    view = await build_dashboard(bff.clients, bff.pages, user.id, limits)
    # The app may show its last dashboard at once while it revalidates (ETag -> 304), and keep
    # showing it while the BFF cannot be reached.
    return Represented(
        view.data, headers={"Cache-Control": DASHBOARD_CACHE_CONTROL}, validator=view.validator
    )
