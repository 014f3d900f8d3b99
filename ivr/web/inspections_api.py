"""Quality-inspection routes (质检): the standard, the queue, scoring a call, the results.

* ``GET /api/inspections/standard`` — the form's items, weights and pass ratio (everyone who
  reads results: agents too, to know what they are scored on).
* ``GET /api/inspections/queue?period=`` — inspectors and supervisors: the calls the sampling
  rule drew for a period (``2026-12-05`` per day or ``2026-12`` per month, as ``[inspection]
  sample_per`` says; the current one by default), each with why it was drawn, its automatic
  findings and its inspection if done.
* ``POST /api/inspections`` — inspectors and supervisors: ``{"recording_id", "scores":
  {item: points}, "comment", "findings_used": [kind]}``; 201 with the stored inspection,
  422 for scores that do not fit the standard, 409 if the call has its inspection already.
* ``GET /api/inspections?since=&until=&limit=`` — inspectors and supervisors: all; agents:
  the inspections of their own calls. Newest first.
* ``GET /api/inspections/{id}`` — one; an agent only their own call's (403 otherwise).
"""

from __future__ import annotations

from aiohttp import web
from pydantic import Field, StrictInt

from ivr.domain.access import Role
from ivr.domain.inspection import AlreadyInspected, BadScores
from ivr.services.inspections import MAX_COMMENT, InspectionService
from ivr.web.auth import principal, requires
from ivr.web.errors import json_error
from ivr.web.json_body import json_response
from ivr.web.recordings_api import parse_instant
from ivr.web.requests import NO_CONTROLS, StrictIn, parse_body, path_id, query_limit

INSPECTIONS = web.AppKey("inspections", InspectionService)
_NO_STORE = {"Cache-Control": "no-store"}
_READERS = (Role.AGENT, Role.INSPECTOR, Role.SUPERVISOR)
_INSPECTORS = (Role.INSPECTOR, Role.SUPERVISOR)


class InspectionIn(StrictIn):
    recording_id: int = Field(ge=1)
    scores: dict[str, StrictInt]  # whole points: true, "5" or 5.0 are refused
    comment: str | None = Field(None, max_length=MAX_COMMENT, pattern=NO_CONTROLS)
    findings_used: list[str] = Field(default_factory=list, max_length=20)


@requires(*_READERS)
async def standard(request: web.Request) -> web.Response:
    return json_response(request, request.app[INSPECTIONS].standard.as_dict())


@requires(*_INSPECTORS)
async def queue(request: web.Request) -> web.Response:
    service = request.app[INSPECTIONS]
    period = request.query.get("period") or service.current_period()
    try:
        body = await service.queue(period[:16])
    except ValueError as exc:
        raise json_error(web.HTTPBadRequest, str(exc)) from None
    return json_response(request, body, headers=_NO_STORE)


@requires(*_INSPECTORS)
async def create(request: web.Request) -> web.Response:
    body: InspectionIn = await parse_body(request, InspectionIn)
    try:
        found = await request.app[INSPECTIONS].inspect(
            principal(request),
            body.recording_id,
            dict(body.scores),
            body.comment,
            body.findings_used,
        )
    except BadScores as exc:
        raise json_error(web.HTTPUnprocessableEntity, str(exc)) from None
    except AlreadyInspected:
        raise json_error(web.HTTPConflict, "this call has its inspection already") from None
    if found is None:
        raise json_error(web.HTTPNotFound, "no such recording")
    return json_response(request, found.as_dict(), status=201, headers=_NO_STORE)


@requires(*_READERS)
async def listing(request: web.Request) -> web.Response:
    query = request.query
    found = await request.app[INSPECTIONS].visible(
        principal(request),
        parse_instant(query.get("since"), "since"),
        parse_instant(query.get("until"), "until"),
        query_limit(query),
    )
    return json_response(request, {"inspections": [i.as_dict() for i in found]}, headers=_NO_STORE)


@requires(*_READERS)
async def one(request: web.Request) -> web.Response:
    try:
        found = await request.app[INSPECTIONS].one(
            principal(request), path_id(request, "id", "inspection")
        )
    except PermissionError as exc:
        raise json_error(web.HTTPForbidden, str(exc)) from None
    if found is None:
        raise json_error(web.HTTPNotFound, "no such inspection")
    return json_response(request, found.as_dict(), headers=_NO_STORE)


def add_inspection_routes(app: web.Application, service: InspectionService) -> None:
    app[INSPECTIONS] = service
    app.router.add_get("/api/inspections/standard", standard)
    app.router.add_get("/api/inspections/queue", queue)
    app.router.add_post("/api/inspections", create)
    app.router.add_get("/api/inspections", listing)
    app.router.add_get("/api/inspections/{id}", one)
