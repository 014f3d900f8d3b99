"""Every route of the real web app, enumerated from its router (routes added later are covered
without touching this file): no token → 401, a role the route does not allow → 403, an allowed
role gets past authentication. Only /health, the dashboard and workspace shells and the
workspace WebSocket (authenticated by its first message) are public."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path

import pytest
from aiohttp import web

from ivr.domain.access import Role
from ivr.web.auth import _PUBLIC_ATTR, _ROLES_ATTR, _target
from tests.integration.api_app import AGENT_JOB, Api, api_app

# Public, and why: /health says only "ok", the AGI port and how many calls are in the menu;
# /dashboard is a static page (the packaged file, byte for byte) whose data comes from
# /api/dashboard with a supervisor's token.
# /health/ready: the load balancer's and systemd's probe; fixed state words, nothing else
# /dashboard/assets/{name}: the page's own script and style files (a fixed list, no data).
# /workspace and its two static files: the agent's page, no data in it (the data comes over the
# WebSocket and /api with the agent's token).
# /inspection and its two static files: the inspectors' page, no data in it (the data comes
# from /api with the inspector's token; audio through signed links).
# /api/agents/me/events: a WebSocket a browser cannot give a header to; it is authenticated by
# its first message (test_workspace_feed.py: 4401/4403/4408/4429 without a valid agent token).
PUBLIC = {
    ("GET", "/health"),
    ("GET", "/health/ready"),
    ("GET", "/dashboard"),
    ("GET", "/dashboard/assets/{name}"),
    ("GET", "/workspace"),
    ("GET", "/workspace/{name}"),
    ("GET", "/inspection"),
    ("GET", "/inspection/{name}"),
    ("GET", "/api/agents/me/events"),
}

# The least-privilege decisions for the routes that exist today (admin may do everything).
# Routes added later are checked against their own @requires declaration.
EXPECTED = {
    ("POST", "/api/work-orders"): {Role.INTEGRATION, Role.AGENT},
    ("GET", "/api/work-orders"): {Role.INTEGRATION, Role.AGENT, Role.SUPERVISOR},
    ("GET", "/api/work-orders/{order_no}"): {Role.INTEGRATION, Role.AGENT, Role.SUPERVISOR},
    ("PATCH", "/api/work-orders/{order_no}"): {Role.INTEGRATION, Role.AGENT},
    ("POST", "/api/work-orders/{order_no}/close"): {Role.INTEGRATION, Role.AGENT},
    ("POST", "/api/work-orders/{order_no}/dispatch-acceptance"): {Role.SUPERVISOR},
    ("POST", "/api/work-orders/{order_no}/reassign"): {Role.SUPERVISOR},
    ("GET", "/api/work-orders/{order_no}/callbacks"): {
        Role.INTEGRATION,
        Role.AGENT,
        Role.SUPERVISOR,
    },
    ("GET", "/api/calls"): {Role.INTEGRATION, Role.SUPERVISOR, Role.AGENT},
    ("GET", "/api/calls/{call_id}"): {Role.INTEGRATION, Role.SUPERVISOR, Role.AGENT},
    ("GET", "/api/follow-ups"): {Role.SUPERVISOR},
    ("GET", "/api/follow-ups/{follow_up_id}"): {Role.SUPERVISOR},
    ("POST", "/api/follow-ups/{follow_up_id}/resolve"): {Role.SUPERVISOR},
    ("POST", "/api/follow-ups/{follow_up_id}/requeue"): {Role.SUPERVISOR},
    ("GET", "/api/do-not-call"): {Role.SUPERVISOR},
    ("POST", "/api/do-not-call"): {Role.SUPERVISOR},
    ("DELETE", "/api/do-not-call"): {Role.SUPERVISOR},
    ("GET", "/api/dashboard"): {Role.SUPERVISOR},
    ("GET", "/metrics"): {Role.SUPERVISOR, Role.INTEGRATION},
    ("GET", "/api/openapi.json"): {Role.SUPERVISOR, Role.INSPECTOR, Role.INTEGRATION, Role.AGENT},
    # recordings: an agent only their own calls (checked per recording), never integration
    ("GET", "/api/recordings"): {Role.AGENT, Role.INSPECTOR, Role.SUPERVISOR},
    ("GET", "/api/recordings/{id}"): {Role.AGENT, Role.INSPECTOR, Role.SUPERVISOR},
    ("GET", "/api/recordings/{id}/audio"): {Role.AGENT, Role.INSPECTOR, Role.SUPERVISOR},
    ("POST", "/api/recordings/{id}/playback-url"): {Role.AGENT, Role.INSPECTOR, Role.SUPERVISOR},
    # quality inspection: inspectors and supervisors score; agents read their own results
    ("GET", "/api/inspections/standard"): {Role.AGENT, Role.INSPECTOR, Role.SUPERVISOR},
    ("GET", "/api/inspections/queue"): {Role.INSPECTOR, Role.SUPERVISOR},
    ("POST", "/api/inspections"): {Role.INSPECTOR, Role.SUPERVISOR},
    ("GET", "/api/inspections"): {Role.AGENT, Role.INSPECTOR, Role.SUPERVISOR},
    ("GET", "/api/inspections/{id}"): {Role.AGENT, Role.INSPECTOR, Role.SUPERVISOR},
    ("GET", "/api/agents"): {Role.SUPERVISOR, Role.AGENT},
    ("PUT", "/api/agents/{job}"): {Role.SUPERVISOR},
    ("GET", "/api/customers"): {Role.AGENT, Role.SUPERVISOR, Role.INTEGRATION},
    ("GET", "/api/customers/{account_no}"): {Role.AGENT, Role.SUPERVISOR, Role.INTEGRATION},
    ("PUT", "/api/customers/{account_no}"): {Role.SUPERVISOR, Role.INTEGRATION},
    ("DELETE", "/api/customers/{account_no}"): {Role.SUPERVISOR},
    ("GET", "/api/outages"): {Role.AGENT, Role.SUPERVISOR, Role.INTEGRATION},
    ("POST", "/api/outages"): {Role.AGENT, Role.SUPERVISOR, Role.INTEGRATION},
    ("GET", "/api/outages/{outage_id}"): {Role.AGENT, Role.SUPERVISOR, Role.INTEGRATION},
    ("PATCH", "/api/outages/{outage_id}"): {Role.SUPERVISOR, Role.INTEGRATION},
    ("POST", "/api/outages/{outage_id}/close"): {Role.SUPERVISOR, Role.INTEGRATION},
    ("POST", "/api/outages/{outage_id}/cancel"): {Role.SUPERVISOR, Role.INTEGRATION},
    ("GET", "/api/outages/{outage_id}/history"): {
        Role.AGENT,
        Role.SUPERVISOR,
        Role.INTEGRATION,
    },
    **{
        ("POST", f"/api/agents/{{job}}/{kind}"): {Role.SUPERVISOR, Role.AGENT}
        for kind in ("login", "logout", "pause", "unpause")
    },
    # the agent's own state, by their own token only (a supervisor uses /api/agents/{job}/…)
    ("GET", "/api/agents/me"): {Role.AGENT},
    **{
        ("POST", f"/api/agents/me/{kind}"): {Role.AGENT}
        for kind in ("login", "logout", "pause", "unpause", "ready")
    },
    ("POST", "/api/agents/me/call/transfer"): {Role.AGENT},
    ("GET", "/api/agents/me/work-orders"): {Role.AGENT},
    ("GET", "/api/calls/{call_id}/work-orders"): {Role.SUPERVISOR, Role.INTEGRATION, Role.AGENT},
    # listen / whisper / barge: supervisors; who rings which phone: admins alone decide
    ("POST", "/api/calls/{call_id}/monitor"): {Role.SUPERVISOR},
    ("GET", "/api/monitor-sessions"): {Role.SUPERVISOR},
    ("GET", "/api/monitor-phones"): {Role.SUPERVISOR},
    ("PUT", "/api/monitor-phones/{principal}"): set(),
    ("DELETE", "/api/monitor-phones/{principal}"): set(),
}
# Roles that must never reach these, whatever is declared later (customer data, escalations).
NEVER = [
    (re.compile(r"^/api/follow-ups"), {Role.AGENT, Role.INTEGRATION}),
    (re.compile(r"^/api/do-not-call"), {Role.AGENT, Role.INTEGRATION}),
    (re.compile(r"^/api/dashboard"), {Role.AGENT, Role.INTEGRATION}),
    (re.compile(r"^/api/tokens"), {Role.AGENT, Role.INTEGRATION, Role.SUPERVISOR}),
    (re.compile(r"^/api/recordings"), {Role.INTEGRATION}),  # customers' voices
    # live calls
    (re.compile(r"^/api/(calls/[^/]+/monitor|monitor-)"), {Role.AGENT, Role.INTEGRATION}),
    (re.compile(r"^/api/inspections"), {Role.INTEGRATION}),
]


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with api_app(tmp_path) as found:
        yield found


def routes(app: web.Application) -> list[tuple[str, str, object]]:
    found = []
    for route in app.router.routes():
        if route.method in ("HEAD", "OPTIONS"):  # aiohttp's automatic HEAD for each GET
            continue
        path = route.resource.canonical if route.resource else ""
        found.append((route.method, path, _target(route.handler)))
    return found


def concrete(path: str) -> str:
    """A path for the pattern: every placeholder becomes the test agent's own job number (so an
    agent's own-resource check passes and only the role check can refuse)."""
    return re.sub(r"\{[^}]+\}", AGENT_JOB, path)


async def call(api: Api, method: str, path: str, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    body = {} if method in ("POST", "PUT", "PATCH") else None
    return await api.client.request(method, concrete(path), json=body, headers=headers)


async def test_only_health_and_the_dashboard_shell_are_public(api: Api) -> None:
    public = {(m, p) for m, p, h in routes(api.client.app) if getattr(h, _PUBLIC_ATTR, False)}
    assert public == PUBLIC
    page = await api.client.get("/dashboard")
    files = resources.files("ivr.web").joinpath("dashboard_page")
    packaged = files.joinpath("dashboard.html").read_text(encoding="utf-8")
    assert page.status == 200 and await page.text() == packaged  # a shell: no data in it
    for name in ("dashboard.js", "dashboard_common.js", "dashboard.css"):
        asset = await api.client.get(f"/dashboard/assets/{name}")
        assert asset.status == 200 and await asset.text() == files.joinpath(name).read_text()
    for name in ("dashboard.html", "..%2F..%2Fapp.py", "nothing.js"):
        assert (await api.client.get(f"/dashboard/assets/{name}")).status == 404
    health = await (await api.client.get("/health")).json()
    assert set(health) == {"status", "agi_port", "calls_in_menu"}


async def test_every_other_route_needs_a_token(api: Api) -> None:
    checked = 0
    for method, path, _handler in routes(api.client.app):
        if (method, path) in PUBLIC:
            continue
        for headers in (None, {"Authorization": "Bearer not-a-token"}, {"Authorization": "x"}):
            response = await call(api, method, path, headers)
            assert response.status == 401, (method, path, headers, response.status)
            assert "WWW-Authenticate" in response.headers
        # a good token clears this source's bad-token count (which would otherwise make it
        # wait: see test_token_lifecycle)
        cleared = await api.client.get("/api/work-orders?limit=1", headers=api.auth(Role.ADMIN))
        assert cleared.status == 200
        checked += 1
    assert checked >= len(EXPECTED)
    # unknown paths answer 401 too: no token, no map of the API
    assert (await api.client.get("/api/no-such-thing")).status == 401


async def test_each_role_reaches_only_what_it_is_allowed(api: Api) -> None:
    for method, path, handler in routes(api.client.app):
        if (method, path) in PUBLIC:
            continue
        declared = set(getattr(handler, _ROLES_ATTR, frozenset()))
        if (method, path) in EXPECTED:
            assert declared == EXPECTED[(method, path)], (method, path, declared)
        for pattern, forbidden in NEVER:
            if pattern.match(path):
                assert not declared & forbidden, (method, path, declared)
        for role in Role:
            response = await call(api, method, path, api.auth(role))
            text = await response.text()
            if role is Role.ADMIN or role in declared:
                assert response.status != 401, (method, path, role)
                assert "may not do this" not in text, (method, path, role, text)
            else:
                assert response.status == 403, (method, path, role, response.status)
                assert f"role {role.value!r} may not do this" in text


async def test_authentication_comes_before_reading_the_body(api: Api) -> None:
    huge = b"{" + b" " * (2 * 1024 * 1024)
    response = await api.client.post("/api/work-orders", data=huge)
    assert response.status == 401  # refused before a byte of the body is parsed


async def test_a_revoked_or_agent_token_cannot_make_tokens_or_act_as_others(api: Api) -> None:
    assert await api.bridge.tokens.revoke("t-integration")
    response = await api.client.get("/api/work-orders", headers=api.auth(Role.INTEGRATION))
    assert response.status == 401
    # an agent acts on its own job number only
    response = await api.client.post("/api/agents/9999/login", headers=api.auth(Role.AGENT))
    assert response.status == 403
