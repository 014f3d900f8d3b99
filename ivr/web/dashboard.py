"""The supervisors' live dashboard, its JSON, and Prometheus ``/metrics``.

* ``GET /dashboard`` — a static page (no data in it, so it needs no token to load); it polls
  ``/api/dashboard`` every second with the token from the URL fragment (``#token=…``).
* ``GET /api/dashboard`` — supervisors: queues, waiting callers with their waiting time,
  agents and their state, today's figures (whole centre, per queue, per agent).
* ``GET /metrics`` — Prometheus text format, for supervisors and the ``integration`` role
  (a scraper gets its own token: ``bearer_token`` in Prometheus' scrape config). It carries no
  personal data, but queue sizes and agent states are the centre's business, not the public's.
"""

from __future__ import annotations

import base64
import hashlib
from importlib import resources
from typing import Any

from aiohttp import web

from ivr.domain.access import Role
from ivr.services.dashboard import DashboardSource
from ivr.web.auth import public, requires

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
    async def data(_request: web.Request) -> web.Response:
        return web.json_response(await source.snapshot(), headers={"Cache-Control": "no-store"})

    @requires(Role.SUPERVISOR, Role.INTEGRATION)
    async def metrics(_request: web.Request) -> web.Response:
        text = prometheus_text(await source.snapshot())
        return web.Response(text=text, content_type="text/plain", charset="utf-8",
                            headers={"X-Prometheus-Format": "0.0.4"})  # fmt: skip

    app.router.add_get("/dashboard", page)
    app.router.add_get("/api/dashboard", data)
    app.router.add_get("/metrics", metrics)


_TODAY = {
    "offered": "calls that entered the queue today",
    "answered": "calls answered today",
    "answered_in_15s": "answered within 15 s of the agent's ring today",
    "abandoned": "callers who hung up while waiting (after the grace period) today",
    "short_abandoned": "callers who hung up within the grace period today",
    "timed_out": "calls the queue gave up on today",
    "rings_not_answered": "agent rings that timed out unanswered today",
    "service_level": "answered within 15 s of ring / answered, today",
    "abandon_rate": "abandoned / (offered - short abandoned), today",
    "asa_ms": "average queue wait of answered calls today (ms)",
    "p90_answer_ms": "90th percentile queue wait of answered calls today (ms)",
    "avg_ring_to_answer_ms": "average ring-to-answer today (ms)",
    "avg_talk_ms": "average talk time today (ms)",
}


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def prometheus_text(snapshot: dict[str, Any]) -> str:
    lines: list[str] = []

    def gauge(name: str, helptext: str, samples: list[tuple[dict[str, str], Any]]) -> None:
        lines.append(f"# HELP ivr_{name} {helptext}")
        lines.append(f"# TYPE ivr_{name} gauge")
        for labels, value in samples:
            if value is None:
                continue
            rendered = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
            lines.append(f"ivr_{name}{{{rendered}}} {float(value):g}")

    queues = snapshot["queues"]
    gauge("queue_waiting_callers", "callers waiting in the queue now",
          [({"queue": q}, v["waiting"]) for q, v in queues.items()])  # fmt: skip
    gauge("queue_longest_wait_seconds", "longest current wait in the queue",
          [({"queue": q}, v["longest_wait_s"]) for q, v in queues.items()])  # fmt: skip
    gauge("queue_members", "agents logged in to the queue",
          [({"queue": q}, v["agents"]) for q, v in queues.items()])  # fmt: skip
    gauge("calls_talking", "calls connected to an agent now", [({}, len(snapshot["talking"]))])
    states: dict[tuple[str, str], int] = {}
    for agent in snapshot["agents"]:
        key = (agent["state"], "true" if agent["paused"] else "false")
        states[key] = states.get(key, 0) + 1
    gauge("agents", "agents by state",
          [({"state": s, "paused": p}, n) for (s, p), n in sorted(states.items())])  # fmt: skip
    today = snapshot["today"]
    for field, helptext in _TODAY.items():
        samples = [({"queue": "_all"}, today["total"][field])]
        samples += [({"queue": q}, f[field]) for q, f in today["by_queue"].items()]
        gauge(f"today_{field}", helptext, samples)
    events = snapshot.get("sip_security_events") or {}
    if events:
        lines.append("# HELP ivr_sip_security_events_total Asterisk security failures since start")
        lines.append("# TYPE ivr_sip_security_events_total counter")
        for name, count in events.items():
            lines.append(f'ivr_sip_security_events_total{{event="{_label(name)}"}} {count}')
    return "\n".join(lines) + "\n"
