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

from importlib import resources

from aiohttp import web

from ivr.domain.access import Role
from ivr.services.dashboard import DashboardSource
from ivr.web.auth import public, requires
from ivr.web.json_body import json_response

_FILES = resources.files("ivr.web").joinpath("dashboard_page")
PAGE = _FILES.joinpath("dashboard.html").read_text(encoding="utf-8")
ASSETS = {
    "dashboard.js": "text/javascript",
    "dashboard_common.js": "text/javascript",
    "dashboard.css": "text/css",
}
_ASSET_TEXT = {name: _FILES.joinpath(name).read_text(encoding="utf-8") for name in ASSETS}

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "font-src 'self'; connect-src 'self'; img-src 'none'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def add_dashboard_routes(app: web.Application, source: DashboardSource) -> None:
    @public
    async def page(_request: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html", headers=SECURITY_HEADERS)

    @public
    async def asset(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in ASSETS:
            raise web.HTTPNotFound(text="no such file", headers=SECURITY_HEADERS)
        return web.Response(
            text=_ASSET_TEXT[name],
            content_type=ASSETS[name],
            charset="utf-8",
            headers=SECURITY_HEADERS,
        )

    @requires(Role.SUPERVISOR)
    async def data(request: web.Request) -> web.Response:
        return json_response(
            request, await source.snapshot(), headers={"Cache-Control": "no-store"}
        )

    app.router.add_get("/dashboard", page)
    app.router.add_get("/dashboard/assets/{name}", asset)
    app.router.add_get("/api/dashboard", data)
