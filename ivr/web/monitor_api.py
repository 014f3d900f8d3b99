"""Supervisor listen / whisper / barge routes (监听 / 耳语 / 强插).

* ``POST /api/calls/{call_id}/monitor {"mode": "listen"|"whisper"|"barge"}`` — supervisors:
  their own monitor phone rings and, answered, hears the call (201 with the audited session).
  The request names no phone and no channel: the phone is the seat an admin assigned to the
  token's name, the channel is the agent's leg the tracker knows for this live call.
* ``GET /api/monitor-sessions?call_id=&limit=`` — supervisors: the audit, newest first.
* ``GET /api/monitor-phones`` — supervisors: who has which seat.
* ``PUT /api/monitor-phones/{principal} {"seat": "desk12"}`` / ``DELETE`` — admins only: a
  provisioned seat (``/api/seats``) becomes that token name's monitor phone.
"""

from __future__ import annotations

import re
from typing import Literal

from aiohttp import web
from pydantic import ConfigDict, Field

from ivr.domain.access import Role
from ivr.domain.monitoring import MonitorRefused, check_call_id, parse_mode
from ivr.domain.seats import SeatNameError, check_seat_name
from ivr.services.supervisor_monitor import SupervisorMonitor
from ivr.web.auth import principal, requires
from ivr.web.errors import json_error
from ivr.web.json_body import error_response, json_response
from ivr.web.requests import StrictIn, actor, parse_body, query_limit

_PRINCIPAL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")  # a token's name


class MonitorIn(StrictIn):
    """``POST /api/calls/{call_id}/monitor``: how to join the call, nothing else."""

    model_config = ConfigDict(extra="forbid", strict=True)

    mode: Literal["listen", "whisper", "barge"]


class MonitorPhoneIn(StrictIn):
    """``PUT /api/monitor-phones/{principal}``: a provisioned seat's name."""

    model_config = ConfigDict(extra="forbid", strict=True)

    seat: str = Field(max_length=64)


def _principal_name(request: web.Request) -> str:
    name = request.match_info["principal"]
    if not _PRINCIPAL.match(name):
        raise json_error(web.HTTPNotFound, "no such token name")
    return name


def add_monitor_routes(app: web.Application, monitor: SupervisorMonitor) -> None:
    store = monitor.store

    @requires(Role.SUPERVISOR)
    async def start_monitor(request: web.Request) -> web.Response:
        body: MonitorIn = await parse_body(request, MonitorIn)
        try:
            call_id = check_call_id(request.match_info["call_id"])
            session = await monitor.start(principal(request), call_id, parse_mode(body.mode))
        except MonitorRefused as exc:
            return error_response(str(exc), exc.status)
        return json_response(request, session.as_dict(), status=201)

    @requires(Role.SUPERVISOR)
    async def list_sessions(request: web.Request) -> web.Response:
        call_id = request.query.get("call_id")
        if call_id is not None:
            try:
                check_call_id(call_id)
            except MonitorRefused:
                return error_response("call_id is a call id (32 hex digits)", 400)
        found = await store.sessions(call_id, query_limit(request.query))
        return json_response(request, {"sessions": [s.as_dict() for s in found]})

    @requires(Role.SUPERVISOR)
    async def list_phones(request: web.Request) -> web.Response:
        return json_response(request, {"phones": [p.as_dict() for p in await store.phones()]})

    @requires()  # admins only: who rings which phone is not the supervisors' own choice
    async def set_phone(request: web.Request) -> web.Response:
        name = _principal_name(request)
        body: MonitorPhoneIn = await parse_body(request, MonitorPhoneIn)
        try:
            seat = check_seat_name(body.seat)
        except SeatNameError as exc:
            return error_response(str(exc), 400)
        if not await store.set_phone(name, seat, actor(principal(request))):
            return error_response(f"no seat {seat!r}: provision it first (POST /api/seats)", 400)
        phone = await store.phone_of(name)
        assert phone is not None
        return json_response(request, phone.as_dict())

    @requires()
    async def remove_phone(request: web.Request) -> web.Response:
        if not await store.remove_phone(_principal_name(request)):
            return error_response("no monitor phone for that name", 404)
        return json_response(request, {"removed": True})

    app.router.add_post("/api/calls/{call_id}/monitor", start_monitor)
    app.router.add_get("/api/monitor-sessions", list_sessions)
    app.router.add_get("/api/monitor-phones", list_phones)
    app.router.add_put("/api/monitor-phones/{principal}", set_phone)
    app.router.add_delete("/api/monitor-phones/{principal}", remove_phone)
