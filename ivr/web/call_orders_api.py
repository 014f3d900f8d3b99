"""``GET /api/calls/{call_id}/work-orders``: the orders recorded on (or linked to) a call — the
other direction of the link is each order's ``call_ids``.

Supervisors and the integration see every call's orders; an agent only a call they answered
or whose order they own (首问负责制: nobody browses another agent's calls).
"""

from __future__ import annotations

import re

from aiohttp import web

from ivr.domain.access import Role
from ivr.ports import WorkspaceLookup
from ivr.web.auth import principal, requires
from ivr.web.errors import json_error
from ivr.web.json_body import json_response
from ivr.web.requests import to_json

LOOKUP = web.AppKey("workspace_lookup", WorkspaceLookup)
_CALL_ID = re.compile(r"^[0-9a-f]{32}$")


@requires(Role.SUPERVISOR, Role.INTEGRATION, Role.AGENT)
async def call_work_orders(request: web.Request) -> web.Response:
    call_id = request.match_info["call_id"]
    if not _CALL_ID.match(call_id):
        raise json_error(web.HTTPNotFound, "no such call")
    lookup = request.app[LOOKUP]
    who = principal(request)
    if who.role is Role.AGENT and who.job_number not in await lookup.call_agents(call_id):
        # the same answer whether or not the call exists: an agent cannot probe call ids
        raise json_error(web.HTTPForbidden, "not a call you answered")
    orders = await lookup.call_orders(call_id)
    if orders is None:
        raise json_error(web.HTTPNotFound, "no such call")
    return json_response(request, {"call_id": call_id, "work_orders": to_json(orders)})


def add_routes(app: web.Application, lookup: WorkspaceLookup) -> None:
    app[LOOKUP] = lookup
    app.router.add_get("/api/calls/{call_id}/work-orders", call_work_orders)
