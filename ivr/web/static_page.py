"""A static browser page and its fixed list of script and style files, served public.

Such a page holds no data, so it needs no token to load; it reads the API with the token from
the URL fragment. Every response carries the page's own security headers (a
Content-Security-Policy that allows the bridge's own files only), and a name not on the list is
a 404, so nothing but the listed files can be fetched. The dashboard and the inspection page
are served alike by this one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources

from aiohttp import web

from ivr.web.auth import public

# what every static page sends besides its own Content-Security-Policy
_COMMON_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class StaticPage:
    """The page's HTML, its files (name → (text, content type)) and its response headers."""

    html: str
    assets: Mapping[str, tuple[str, str]]
    headers: Mapping[str, str]


def load_page(folder: str, html: str, assets: Mapping[str, str], csp: str) -> StaticPage:
    """Read ``html`` and ``assets`` (name → content type) from ``ivr/web/<folder>`` once, at
    import: a missing file fails the start, not a request."""
    files = resources.files("ivr.web").joinpath(folder)
    return StaticPage(
        html=files.joinpath(html).read_text(encoding="utf-8"),
        assets={
            name: (files.joinpath(name).read_text(encoding="utf-8"), content_type)
            for name, content_type in assets.items()
        },
        headers={"Content-Security-Policy": csp, **_COMMON_HEADERS},
    )


def add_static_page(
    app: web.Application, page_path: str, assets_path: str, page: StaticPage
) -> None:
    """``GET page_path`` serves the HTML and ``GET assets_path/{name}`` each listed file; both
    public."""

    @public
    async def html(_request: web.Request) -> web.Response:
        return web.Response(text=page.html, content_type="text/html", headers=page.headers)

    @public
    async def asset(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in page.assets:
            raise web.HTTPNotFound(text="no such file", headers=page.headers)
        text, content_type = page.assets[name]
        return web.Response(
            text=text, content_type=content_type, charset="utf-8", headers=page.headers
        )

    app.router.add_get(page_path, html)
    app.router.add_get(f"{assets_path}/{{name}}", asset)
