"""The quality inspectors' page (质检): the inspection queue and recent recordings, a player
for both sides with seeking, the automatic findings beside the scoring form.

* ``GET /inspection`` — a static page (no data in it, so it needs no token to load); it reads
  ``/api/inspections/…`` and ``/api/recordings/…`` with the token from the URL fragment
  (``#token=…``), moved into the tab's session storage at once (``dashboard_common.js``).
  Inspectors and supervisors use it (the dashboard links here); the audio plays through
  signed links (``POST /api/recordings/{id}/playback-url``), never a public URL.
* ``GET /inspection/{name}`` — its own script and style (a fixed list). The shared
  ``dashboard_common.js`` comes from the dashboard's assets. Nothing from elsewhere.
"""

from __future__ import annotations

from importlib import resources

from aiohttp import web

from ivr.web.auth import public

_FILES = resources.files("ivr.web").joinpath("inspection_page")
PAGE = _FILES.joinpath("inspection.html").read_text(encoding="utf-8")
ASSETS = {"inspection.js": "text/javascript", "inspection.css": "text/css"}
_ASSET_TEXT = {name: _FILES.joinpath(name).read_text(encoding="utf-8") for name in ASSETS}

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "font-src 'self'; connect-src 'self'; media-src 'self'; img-src 'none'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@public
async def page(_request: web.Request) -> web.Response:
    return web.Response(text=PAGE, content_type="text/html", headers=SECURITY_HEADERS)


@public
async def asset(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in ASSETS:
        raise web.HTTPNotFound(text="no such file", headers=SECURITY_HEADERS)
    return web.Response(
        text=_ASSET_TEXT[name], content_type=ASSETS[name], charset="utf-8", headers=SECURITY_HEADERS
    )


def add_inspection_page(app: web.Application) -> None:
    app.router.add_get("/inspection", page)
    app.router.add_get("/inspection/{name}", asset)
