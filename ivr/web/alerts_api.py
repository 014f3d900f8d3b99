"""Alerts and deadlines at risk, for supervisors (and admin).

* ``GET /api/alerts?state=open|acknowledged|all&level=warning|breach&since=<ISO>&limit=`` —
  newest first (default: open alerts).
* ``POST /api/alerts/{id}/ack`` — idempotent; the first acknowledgement (who, when) is kept.
* ``GET /api/deadlines?state=attention|at_risk|overdue|open&order_no=`` — unmet deadlines per
  order with their state now (``attention``, the default: at risk or overdue).

Nothing here carries personal data: orders are named by number and kind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web

from ivr.domain.access import Role
from ivr.domain.alerts import AlertLevel, AlertNotFound
from ivr.domain.deadline_watch import DeadlineState, WarningPolicy, shown_state
from ivr.ports import AlertLog, DeadlineBoard
from ivr.web.auth import principal, requires
from ivr.web.errors import json_error
from ivr.web.json_body import json_response
from ivr.web.requests import ORDER_NO, actor, path_id, query_choice, query_limit


@dataclass(frozen=True, slots=True)
class AlertsDeps:
    alerts: AlertLog
    deadlines: DeadlineBoard
    policy: WarningPolicy
    clock: Callable[[], datetime]


DEPS = web.AppKey("alerts_deps", AlertsDeps)
_STATES = {"open": False, "acknowledged": True, "all": None}
_DEADLINE_STATES = {
    "attention": {DeadlineState.AT_RISK, DeadlineState.OVERDUE},
    "at_risk": {DeadlineState.AT_RISK},
    "overdue": {DeadlineState.OVERDUE},
    "open": {DeadlineState.AT_RISK, DeadlineState.OVERDUE, DeadlineState.ON_TRACK},
}


def _since(raw: str | None) -> datetime | None:
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise json_error(web.HTTPBadRequest, "since is an ISO 8601 time with its offset") from None
    if value.tzinfo is None:
        raise json_error(web.HTTPBadRequest, "since needs a UTC offset (e.g. +08:00 or Z)")
    return value


@requires(Role.SUPERVISOR)
async def list_alerts(request: web.Request) -> web.Response:
    query = request.query
    state = query_choice(query, "state", list(_STATES), "open") or "open"
    level = query_choice(query, "level", [v.value for v in AlertLevel])
    limit = query_limit(query)
    rows = await request.app[DEPS].alerts.list(
        _STATES[state], AlertLevel(level) if level else None, _since(query.get("since")), limit
    )
    return json_response(request, {"alerts": rows})


@requires(Role.SUPERVISOR)
async def acknowledge(request: web.Request) -> web.Response:
    alert_id = path_id(request, "alert_id", "alert")
    try:
        row = await request.app[DEPS].alerts.acknowledge(alert_id, actor(principal(request)))
    except AlertNotFound:
        raise json_error(web.HTTPNotFound, "no such alert") from None
    return json_response(request, row)


@requires(Role.SUPERVISOR)
async def list_deadlines(request: web.Request) -> web.Response:
    state = query_choice(request.query, "state", list(_DEADLINE_STATES), "attention")
    wanted = _DEADLINE_STATES[state or "attention"]
    order_no = request.query.get("order_no")
    if order_no is not None and not ORDER_NO.match(order_no):
        raise json_error(web.HTTPBadRequest, "order_no is 20 of 0-9 A-F")
    deps = request.app[DEPS]
    policy, now = deps.policy, deps.clock()
    orders: dict[str, dict[str, Any]] = {}
    for row in await deps.deadlines.open_deadlines(order_no):
        d = row.deadline
        state = shown_state(d, now, policy)
        if state not in wanted:
            continue
        order = orders.setdefault(
            d.order_no,
            {
                "order_no": d.order_no,
                "kind": d.order_kind,
                "status": row.status,
                "owner_job_number": row.owner_job_number,
                "deadlines": [],
            },
        )
        order["deadlines"].append(
            {
                "name": d.name,
                "state": state.value,
                "due_at": d.due_at.isoformat(),
                "warn_at": policy.warn_at(d).isoformat(),
                "target_at": d.target_at.isoformat() if d.target_at else None,
                "provisional": d.provisional,
                "seconds_left": int((d.due_at - now).total_seconds()),
                "warned": d.warned,
                "breached": d.breached,
            }
        )
    return json_response(request, {"at": now.isoformat(), "orders": list(orders.values())})


def add_routes(app: web.Application, deps: AlertsDeps) -> None:
    app[DEPS] = deps
    app.router.add_get("/api/alerts", list_alerts)
    app.router.add_post("/api/alerts/{alert_id}/ack", acknowledge)
    app.router.add_get("/api/deadlines", list_deadlines)
