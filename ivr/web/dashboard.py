"""The supervisors' live dashboard and its JSON (``/metrics`` is ``ivr.web.metrics``).

* ``GET /dashboard`` — a static page (no data in it, so it needs no token to load); it polls
  ``/api/dashboard`` every second with the token from the URL fragment (``#token=…``).
* ``GET /api/dashboard`` — supervisors: queues, waiting callers with their waiting time,
  agents and their state, today's figures (whole centre, per queue, per agent).
"""

from __future__ import annotations

import base64
import hashlib
from importlib import resources

from aiohttp import web

from ivr.domain.access import Role
from ivr.services.dashboard import DashboardSource
from ivr.web.auth import public, requires
from ivr.web.json_body import json_response

_PAGE = resources.files("ivr.web").joinpath("dashboard.html").read_text(encoding="utf-8")


def _inline_hash(tag: str) -> str:
    """The CSP source for the page's one inline ``<tag>`` block: only that exact text may run
    (or style), so even markup that slipped into the page could not execute an inline script
    or an ``onerror=`` handler."""
    body = _PAGE.split(f"<{tag}>", 1)[1].split(f"</{tag}>", 1)[0]
    digest = base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode("ascii")
    return f"'sha256-{digest}'"


_SECURITY_HEADERS = {
    "Content-Security-Policy": f"default-src 'none'; script-src {_inline_hash('script')}; "
    f"style-src {_inline_hash('style')}; connect-src 'self'; img-src 'none'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def add_dashboard_routes(app: web.Application, source: DashboardSource) -> None:
    @public
    async def page(_request: web.Request) -> web.Response:
        return web.Response(text=_PAGE, content_type="text/html", headers=_SECURITY_HEADERS)

    @requires(Role.SUPERVISOR)
    async def data(request: web.Request) -> web.Response:
        return json_response(
            request, await source.snapshot(), headers={"Cache-Control": "no-store"}
        )

    app.router.add_get("/dashboard", page)
    app.router.add_get("/api/dashboard", data)
