"""The do-not-call list's API (勿扰): supervisors only, since an agent must never spare their own
order its 回访.

``POST /api/do-not-call`` adds a number with the customer's request (idempotent: a number
already on the list answers ``200`` with the stored entry, ``201`` when it joins), ``DELETE``
takes it off with a reason (the row stays, with who removed it and why), ``GET`` lists the
entries. Numbers are masked in every answer: the supervisor who types one knows it.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from aiohttp import web
from pydantic import StringConstraints

from ivr.domain.access import Role
from ivr.domain.do_not_call import DoNotCallEntry, NotOnTheList
from ivr.domain.phone import InvalidPhone, PhoneNumber
from ivr.domain.privacy import mask_number
from ivr.domain.workorders import OrderNotFound
from ivr.ports import DoNotCallList
from ivr.web.auth import principal, requires
from ivr.web.errors import json_error
from ivr.web.json_body import json_response
from ivr.web.requests import (
    NO_CONTROLS,
    StrictIn,
    actor,
    parse_body,
    query_choice,
    query_limit,
    to_json,
)

DO_NOT_CALL = web.AppKey("do_not_call", DoNotCallList)
Words = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=2, max_length=1000, pattern=NO_CONTROLS),
]
_STATES = {"current": True, "removed": False, "all": None}


class DoNotCallIn(StrictIn):
    phone: Annotated[str, StringConstraints(max_length=20)]
    request: Words  # the customer's request as they made it (when, how, in their words)
    order_no: Annotated[str, StringConstraints(pattern=r"^[0-9A-F]{20}$")] | None = None


class DoNotCallRemoveIn(StrictIn):
    phone: Annotated[str, StringConstraints(max_length=20)]
    reason: Words


def _phone(text: str) -> PhoneNumber:
    try:
        return PhoneNumber(text)
    except InvalidPhone as exc:
        raise json_error(web.HTTPUnprocessableEntity, f"phone: {exc}") from None


def _out(entry: DoNotCallEntry) -> dict[str, Any]:
    data = asdict(entry)
    data["phone"] = mask_number(entry.phone)
    data["current"] = entry.current
    return to_json(data)


@requires(Role.SUPERVISOR)
async def list_entries(request: web.Request) -> web.Response:
    state = query_choice(request.query, "state", list(_STATES), "current") or "current"
    limit = query_limit(request.query)
    entries = await request.app[DO_NOT_CALL].list(_STATES[state], limit)
    return json_response(request, {"entries": [_out(e) for e in entries]})


@requires(Role.SUPERVISOR)
async def add_entry(request: web.Request) -> web.Response:
    body: DoNotCallIn = await parse_body(request, DoNotCallIn)
    phone = _phone(body.phone)
    try:
        entry, added = await request.app[DO_NOT_CALL].add(
            phone, body.request, body.order_no, actor(principal(request))
        )
    except OrderNotFound:
        raise json_error(web.HTTPUnprocessableEntity, "order_no: no such work order") from None
    return json_response(request, _out(entry), status=201 if added else 200)


@requires(Role.SUPERVISOR)
async def remove_entry(request: web.Request) -> web.Response:
    body: DoNotCallRemoveIn = await parse_body(request, DoNotCallRemoveIn)
    phone = _phone(body.phone)
    try:
        entry = await request.app[DO_NOT_CALL].remove(phone, body.reason, actor(principal(request)))
    except NotOnTheList:
        raise json_error(web.HTTPNotFound, "this number is not on the do-not-call list") from None
    return json_response(request, _out(entry))


def add_routes(app: web.Application, store: DoNotCallList) -> None:
    app[DO_NOT_CALL] = store
    app.router.add_get("/api/do-not-call", list_entries)
    app.router.add_post("/api/do-not-call", add_entry)
    app.router.add_delete("/api/do-not-call", remove_entry)
