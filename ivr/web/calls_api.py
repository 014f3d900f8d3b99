"""Finding calls, so an integrator can link one to a work order without reading the database.

* ``GET /api/calls?phone=&from=&to=&choice=&outcome=&queue_outcome=&server=&limit=&cursor=``
  — newest first, a page at a time (``next_cursor`` fetches the next page; null when there is none).
* ``GET /api/calls/{call_id}`` — one call with its menu steps, queue stays and the blind
  transfers agents made of it.

Who sees what (least privilege): the integration system and admin get calls in full (they link
them to orders by the caller's number); supervisors get them with the caller's number masked
(they watch the service, not the customer); an agent gets only the calls they answered, in full
(the customer is theirs, as the order is). Another agent's call is 404 like an unknown one.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from aiohttp import web

from ivr.domain.access import Principal, Role
from ivr.domain.call_search import (
    FoundCall,
    SearchError,
    encode_cursor,
    parse_filter,
    valid_call_id,
)
from ivr.domain.privacy import mask_number, mask_numbers_in
from ivr.ports import CallSearch, CallTransferStore
from ivr.web.auth import principal, requires
from ivr.web.errors import json_error
from ivr.web.json_body import json_response

SEARCH = web.AppKey("call_search", CallSearch)
TRANSFERS = web.AppKey("call_transfers", CallTransferStore)


def _out(call: FoundCall, who: Principal, with_steps: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "call_id": call.call_id,
        "caller_number": call.caller_number,
        "dialed_number": call.dialed_number,
        "channel": call.channel_name,
        "started_at": call.started_at,
        "ended_at": call.ended_at,
        "outcome": call.outcome.value,
        "route": call.route,
        "choice": call.choice,
        "menu_path": call.menu_path,
        "keys": call.keys,
        "queue_status": call.queue_status,
        "agent_interface": call.agent_interface,
        "server_name": call.server_name,
        "lost_reason": call.lost_reason,
        "queue": [
            {
                "queue": s.queue,
                "outcome": s.outcome.value,
                "joined_at": s.joined_at,
                "queue_wait_ms": s.queue_wait_ms,
                "talk_ms": s.talk_ms,
                "agent_job_number": s.agent_job_number,
            }
            for s in call.queue
        ],
    }
    if with_steps:
        data["steps"] = [
            {"at": s.at, "kind": s.kind.value, "node": s.node, "key": s.key, "detail": s.detail}
            for s in call.steps
        ]
    if who.role is Role.SUPERVISOR:
        data["caller_number"] = mask_number(call.caller_number)
        data["channel"] = mask_numbers_in(call.channel_name)
    return data


@requires(Role.INTEGRATION, Role.SUPERVISOR, Role.AGENT)
async def list_calls(request: web.Request) -> web.Response:
    who = principal(request)
    try:
        criteria = parse_filter(request.query)
    except SearchError as exc:
        raise json_error(web.HTTPBadRequest, str(exc)) from None
    if who.role is Role.AGENT:
        criteria = replace(criteria, agent_job_number=who.job_number or "")
    page = await request.app[SEARCH].find(criteria)
    return json_response(
        request,
        {
            "calls": [_out(c, who, with_steps=False) for c in page.calls],
            "next_cursor": encode_cursor(page.next) if page.next else None,
        },
        headers={"Cache-Control": "no-store"},
    )


@requires(Role.INTEGRATION, Role.SUPERVISOR, Role.AGENT)
async def get_call(request: web.Request) -> web.Response:
    who = principal(request)
    call_id = request.match_info["call_id"]
    if not valid_call_id(call_id):
        raise json_error(web.HTTPNotFound, "no such call")
    own = (who.job_number or "") if who.role is Role.AGENT else None
    found = await request.app[SEARCH].get(call_id, own)
    if found is None:
        raise json_error(web.HTTPNotFound, "no such call")
    data = _out(found, who, with_steps=True)
    transfers = request.app.get(TRANSFERS)
    if transfers is not None:  # who moved it where (no personal data in them)
        data["transfers"] = [t.as_dict() for t in await transfers.of_call(found.call_id)]
    return json_response(request, data, headers={"Cache-Control": "no-store"})


def add_routes(
    app: web.Application, search: CallSearch, transfers: CallTransferStore | None = None
) -> None:
    app[SEARCH] = search
    if transfers is not None:
        app[TRANSFERS] = transfers
    app.router.add_get("/api/calls", list_calls)
    app.router.add_get("/api/calls/{call_id}", get_call)
