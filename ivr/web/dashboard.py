"""The supervisors' live wallboard and its JSON (``/metrics`` is ``ivr.web.metrics``).

* ``GET /dashboard`` — a static page (no data in it, so it needs no token to load); it polls
  ``/api/dashboard`` every second with the token from the URL fragment (``#token=…``), which
  it moves into the tab's session storage and out of the address bar at once.
* ``GET /dashboard/assets/{name}`` — the page's own script and style files (public, static,
  a fixed list): ``dashboard.js``, ``dashboard.css`` and ``dashboard_common.js`` (formatting
  any page of the bridge may reuse). Nothing comes from elsewhere: sites may be offline.
* ``GET /api/dashboard`` — supervisors: headline figures with their colours, queues, waiting
  callers with their waiting time, agents by 工号 and their state, today's figures.

The Content-Security-Policy allows scripts and styles from the bridge itself only (no inline
script or style, no ``onerror=``), so text that slipped into the page as markup cannot run.
"""

from __future__ import annotations

from aiohttp import web

from ivr.domain.access import Role
from ivr.services.dashboard import DashboardSource
from ivr.web.auth import requires
from ivr.web.json_body import json_response
from ivr.web.static_page import add_static_page, load_page

PAGE = load_page(
    "dashboard_page",
    "dashboard.html",
    {
        "dashboard.js": "text/javascript",
        "dashboard_common.js": "text/javascript",
        "dashboard.css": "text/css",
    },
    "default-src 'none'; script-src 'self'; style-src 'self'; font-src 'self'; "
    "connect-src 'self'; img-src 'none'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'",
)


def add_dashboard_routes(app: web.Application, source: DashboardSource) -> None:
    add_static_page(app, "/dashboard", "/dashboard/assets", PAGE)

    @requires(Role.SUPERVISOR)
    async def data(request: web.Request) -> web.Response:
        return json_response(
            request, await source.snapshot(), headers={"Cache-Control": "no-store"}
        )

    app.router.add_get("/api/dashboard", data)
