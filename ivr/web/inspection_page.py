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

from aiohttp import web

from ivr.web.static_page import add_static_page, load_page

PAGE = load_page(
    "inspection_page",
    "inspection.html",
    {"inspection.js": "text/javascript", "inspection.css": "text/css"},
    "default-src 'none'; script-src 'self'; style-src 'self'; font-src 'self'; "
    "connect-src 'self'; media-src 'self'; img-src 'none'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'",
)


def add_inspection_page(app: web.Application) -> None:
    add_static_page(app, "/inspection", "/inspection", PAGE)
