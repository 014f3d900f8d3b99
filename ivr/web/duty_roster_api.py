"""The duty roster API (crews and their shifts) and each repair order's dispatch calls.

Supervisors (and admin) manage the roster; the outside work-order system (integration) may
read it, with crews' phone numbers masked. Errors are ``{"error": …}`` like the work-order
API: 400 bad JSON or query, 404, 409 (a second crew of the same name), 422 invalid input
(a phone that is not a mainland number, a shift that ends before it starts, no time zone).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from aiohttp import web
from pydantic import AwareDatetime, Field, StringConstraints

from ivr.domain.access import Principal, Role
from ivr.domain.dispatch import CrewView, RosterConflict, RosterNotFound
from ivr.domain.phone import InvalidPhone, PhoneNumber
from ivr.domain.privacy import mask_number
from ivr.ports import DispatchHistory, DutyRoster
from ivr.web.auth import principal, requires
from ivr.web.errors import json_error
from ivr.web.json_body import json_response
from ivr.web.requests import StrictIn, parse_body, path_id, path_order_no, to_json

ROSTER = web.AppKey("duty_roster", DutyRoster)
DISPATCH = web.AppKey("dispatch", DispatchHistory)
# told when the roster changes: the dispatcher plans again the repairs that found nobody
ROSTER_CHANGED = web.AppKey("roster_changed", object)


def _changed(request: web.Request) -> None:
    poke = request.app.get(ROSTER_CHANGED)
    if callable(poke):
        poke()


Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Phone = Annotated[str, StringConstraints(max_length=20)]
_MAX_RANGE = timedelta(days=62)


class CrewIn(StrictIn):
    name: Name
    phone: Phone
    active: bool = True


class CrewPatch(StrictIn):
    name: Name | None = None
    phone: Phone | None = None
    active: bool | None = None


class ShiftIn(StrictIn):
    crew_id: int = Field(ge=1)
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    priority: int = Field(1, ge=1, le=99)


def _phone(raw: str | None) -> PhoneNumber | None:
    if raw is None:
        return None
    try:
        return PhoneNumber(raw)
    except InvalidPhone as exc:
        raise json_error(web.HTTPUnprocessableEntity, f"phone: {exc}") from None


def _sees_numbers(who: Principal) -> bool:
    return who.role in (Role.SUPERVISOR, Role.ADMIN)


def _crew_out(crew: CrewView, who: Principal) -> dict[str, Any]:
    data = asdict(crew)
    if not _sees_numbers(who):
        data["phone"] = mask_number(crew.phone)
    return to_json(data)


def _instant(request: web.Request, name: str, default: datetime) -> datetime:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise json_error(web.HTTPBadRequest, f"{name} is an ISO 8601 time with its offset")
    return value


@requires(Role.SUPERVISOR, Role.INTEGRATION)
async def list_crews(request: web.Request) -> web.Response:
    who = principal(request)
    return json_response(
        request, {"crews": [_crew_out(c, who) for c in await request.app[ROSTER].crews()]}
    )


@requires(Role.SUPERVISOR, Role.INTEGRATION)
async def get_crew(request: web.Request) -> web.Response:
    try:
        crew = await request.app[ROSTER].crew(path_id(request, "crew_id", "crew"))
    except RosterNotFound:
        raise json_error(web.HTTPNotFound, "no such crew") from None
    return json_response(request, _crew_out(crew, principal(request)))


@requires(Role.SUPERVISOR)
async def add_crew(request: web.Request) -> web.Response:
    body: CrewIn = await parse_body(request, CrewIn)
    phone = _phone(body.phone)
    assert phone is not None
    try:
        crew = await request.app[ROSTER].add_crew(body.name, phone, body.active)
    except RosterConflict as exc:
        raise json_error(web.HTTPConflict, str(exc)) from None
    _changed(request)
    return json_response(request, _crew_out(crew, principal(request)), status=201)


@requires(Role.SUPERVISOR)
async def update_crew(request: web.Request) -> web.Response:
    crew_id = path_id(request, "crew_id", "crew")
    body: CrewPatch = await parse_body(request, CrewPatch)
    try:
        crew = await request.app[ROSTER].update_crew(
            crew_id, body.name, _phone(body.phone), body.active
        )
    except RosterNotFound:
        raise json_error(web.HTTPNotFound, "no such crew") from None
    except RosterConflict as exc:
        raise json_error(web.HTTPConflict, str(exc)) from None
    _changed(request)
    return json_response(request, _crew_out(crew, principal(request)))


@requires(Role.SUPERVISOR, Role.INTEGRATION)
async def list_shifts(request: web.Request) -> web.Response:
    now = datetime.now(UTC)
    start = _instant(request, "from", now - timedelta(days=1))
    end = _instant(request, "to", now + timedelta(days=7))
    if not start < end or end - start > _MAX_RANGE:
        raise json_error(web.HTTPBadRequest, "from must be before to, at most 62 days apart")
    shifts = await request.app[ROSTER].shifts(start, end)
    return json_response(request, {"shifts": [to_json(asdict(s)) for s in shifts]})


@requires(Role.SUPERVISOR)
async def add_shift(request: web.Request) -> web.Response:
    body: ShiftIn = await parse_body(request, ShiftIn)
    try:
        shift = await request.app[ROSTER].add_shift(
            body.crew_id, body.starts_at, body.ends_at, body.priority
        )
    except RosterNotFound:
        raise json_error(web.HTTPUnprocessableEntity, "crew_id: no such crew") from None
    except ValueError as exc:
        raise json_error(web.HTTPUnprocessableEntity, str(exc)) from None
    _changed(request)
    return json_response(request, to_json(asdict(shift)), status=201)


@requires(Role.SUPERVISOR)
async def remove_shift(request: web.Request) -> web.Response:
    try:
        await request.app[ROSTER].remove_shift(path_id(request, "shift_id", "shift"))
    except RosterNotFound:
        raise json_error(web.HTTPNotFound, "no such shift") from None
    _changed(request)
    return json_response(request, {"removed": True})


@requires(Role.SUPERVISOR, Role.INTEGRATION)
async def on_duty(request: web.Request) -> web.Response:
    """The crews the dispatcher would call at ``at`` (default now), in calling order."""
    moment = _instant(request, "at", datetime.now(UTC))
    who = principal(request)
    crews = await request.app[ROSTER].on_duty(moment)
    return json_response(
        request,
        {
            "at": moment.isoformat(),
            "crews": [
                {
                    "order": n,
                    "crew_id": c.id,
                    "name": c.name,
                    "phone": c.phone.digits if _sees_numbers(who) else mask_number(c.phone.digits),
                }
                for n, c in enumerate(crews, 1)
            ],
        },
    )


@requires(Role.SUPERVISOR, Role.INTEGRATION)
async def order_dispatch(request: web.Request) -> web.Response:
    """Every call made to dispatch a repair order, with its times and result."""
    order_no = path_order_no(request)
    found = await request.app[DISPATCH].for_order(order_no)
    if found is None:
        raise json_error(web.HTTPNotFound, "no dispatch for this work order")
    if not _sees_numbers(principal(request)):
        for call in found["calls"]:
            call["phone"] = mask_number(call["phone"])
    return json_response(request, {"order_no": order_no, "dispatch": to_json(found)})


def add_routes(
    app: web.Application,
    roster: DutyRoster,
    dispatch: DispatchHistory,
    changed: Callable[[], None] | None = None,
) -> None:
    """``changed``: called after every change to crews or shifts (the dispatcher's poke)."""
    app[ROSTER] = roster
    app[DISPATCH] = dispatch
    if changed is not None:
        app[ROSTER_CHANGED] = changed
    app.router.add_get("/api/crews", list_crews)
    app.router.add_post("/api/crews", add_crew)
    app.router.add_get("/api/crews/{crew_id}", get_crew)
    app.router.add_patch("/api/crews/{crew_id}", update_crew)
    app.router.add_get("/api/duty-shifts", list_shifts)
    app.router.add_post("/api/duty-shifts", add_shift)
    app.router.add_get("/api/duty-shifts/on-duty", on_duty)
    app.router.add_delete("/api/duty-shifts/{shift_id}", remove_shift)
    app.router.add_get("/api/work-orders/{order_no}/dispatch", order_dispatch)
