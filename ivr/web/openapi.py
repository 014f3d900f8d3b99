"""The OpenAPI 3.1 document of the bridge's HTTP API, built from the app itself.

The paths and methods come from the app's router and the roles from each handler's
``@requires`` declaration, so the document cannot list a route that does not exist or miss one
that does; the request bodies are the handlers' own pydantic models (``model_json_schema``:
the same constraints the handlers enforce). What a router cannot say — a summary, the query
parameters, the headers, what a response holds — is in :data:`OPERATIONS`, and a route
missing from it is marked ``x-undocumented`` (a test refuses that).

``GET /api/openapi.json`` serves it to any valid token (every role): the document holds no data,
only the API's shape, which every client needs and no anonymous caller does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from ivr.domain.access import Role
from ivr.domain.agents import JOB_NUMBER
from ivr.domain.call_search import OUTCOMES, QUEUE_OUTCOMES
from ivr.web.agent_me_api import MePauseIn, TransferIn
from ivr.web.agents_api import AgentIn, PauseIn
from ivr.web.auth import requires, route_roles
from ivr.web.do_not_call_api import DoNotCallIn, DoNotCallRemoveIn
from ivr.web.duty_roster_api import CrewIn, CrewPatch, ShiftIn
from ivr.web.follow_ups_api import RequeueIn, ResolveIn
from ivr.web.inspections_api import InspectionIn
from ivr.web.json_body import json_response
from ivr.web.monitor_api import MonitorIn, MonitorPhoneIn
from ivr.web.outages_api import CancelIn, CustomerIn, OutageCloseIn, OutageIn, OutagePatch
from ivr.web.requests import ORDER_NO
from ivr.web.seats_api import SeatIn
from ivr.web.work_orders_api import AcceptanceIn, CloseIn, CreateIn, ReassignIn, UpdateIn

SPEC_PATH = "/api/openapi.json"
_REF = "#/components/schemas/{model}"


class Problem(BaseModel):
    field: str
    problem: str


class Error(BaseModel):
    """Every error answer (400, 401, 403, 404, 405, 409, 410, 413, 416, 422, 503)."""

    error: str
    details: list[Problem] | None = None


@dataclass(frozen=True)
class Param:
    name: str
    description: str
    schema: dict[str, Any] = field(default_factory=lambda: {"type": "string"})
    where: str = "query"
    required: bool = False

    def as_openapi(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "in": self.where,
            "required": self.required or self.where == "path",
            "description": self.description,
            "schema": self.schema,
        }


@dataclass(frozen=True)
class Operation:
    summary: str
    tag: str
    params: tuple[Param, ...] = ()
    body: type[BaseModel] | None = None
    ok: str = "the result as JSON"
    ok_status: int = 200
    ok_type: str = "application/json"
    errors: tuple[int, ...] = ()


def _enum(*values: str) -> dict[str, Any]:
    return {"type": "string", "enum": list(values)}


def _limit(most: int) -> Param:
    """The ``limit`` query parameter of a list: its handler refuses more than ``most``."""
    return Param("limit", f"at most this many (1-{most})", {"type": "integer", "minimum": 1})


LIMIT = _limit(500)
ISO = {"type": "string", "format": "date-time"}
MONTH = {"type": "string", "pattern": r"^\d{4}-\d{2}$"}
IDEMPOTENCY = Param(
    "Idempotency-Key",
    "a retry with the same key returns the first answer instead of acting twice",
    {"type": "string", "maxLength": 128},
    where="header",
)

OPERATIONS: dict[tuple[str, str], Operation] = {
    ("GET", "/api/openapi.json"): Operation("this document", "meta"),
    ("POST", "/api/work-orders"): Operation(
        "record a work order (its deadlines computed on the working-day calendar)",
        "work orders",
        (IDEMPOTENCY,),
        CreateIn,
        "the order (201 when created, 200 for a retry with the same Idempotency-Key)",
        201,
        errors=(400, 409, 422),
    ),
    ("GET", "/api/work-orders"): Operation(
        "list work orders, newest first (an agent sees only their own)",
        "work orders",
        (
            Param("status", "only this status"),
            Param("kind", "only this kind"),
            Param("overdue", "only overdue ones (true) or not (false)", _enum("true", "false")),
            Param("owner", "only this owner's (工号)"),
            LIMIT,
        ),
        errors=(400,),
    ),
    ("GET", "/api/work-orders/{order_no}"): Operation(
        "one order with deadlines, history, follow-ups and callback", "work orders", errors=(404,)
    ),
    ("PATCH", "/api/work-orders/{order_no}"): Operation(
        "change status or summary, or add a note (do_not_call is refused: the list is a"
        " supervisor's, /api/do-not-call)",
        "work orders",
        body=UpdateIn,
        errors=(404, 409, 422),
    ),
    ("POST", "/api/work-orders/{order_no}/close"): Operation(
        "close the order (schedules its callback)",
        "work orders",
        (IDEMPOTENCY,),
        CloseIn,
        errors=(404, 409, 422),
    ),
    ("POST", "/api/work-orders/{order_no}/dispatch-acceptance"): Operation(
        "record a crew's 接令 that did not come by phone, with the reason (meets the dispatch"
        " limit of a repair order still waiting for its crew)",
        "dispatch",
        body=AcceptanceIn,
        errors=(404, 409, 422),
    ),
    ("POST", "/api/work-orders/{order_no}/reassign"): Operation(
        "give the order to another agent, with a reason (kept in its history; 首问负责制:"
        " only a supervisor, never a transfer)",
        "work orders",
        body=ReassignIn,
        errors=(404, 409, 422),
    ),
    ("GET", "/api/work-orders/{order_no}/callbacks"): Operation(
        "the order's callback task and every attempt", "callbacks", errors=(404,)
    ),
    ("GET", "/api/work-orders/{order_no}/dispatch"): Operation(
        "the order's dispatch job and every call to a crew", "dispatch", errors=(404,)
    ),
    ("GET", "/api/calls"): Operation(
        "find calls, newest first, a page at a time (an agent sees only the calls they"
        " answered; supervisors see the caller's number masked)",
        "calls",
        (
            Param("phone", "the caller's number as Asterisk gave it (3-20 digits)"),
            Param("from", "started at or after, ISO 8601 with offset", ISO),
            Param("to", "started before, ISO 8601 with offset", ISO),
            Param("choice", "the menu option chosen, e.g. repair.outage"),
            Param("outcome", "how the menu part ended", _enum(*OUTCOMES)),
            Param("queue_outcome", "how a queue stay ended", _enum(*QUEUE_OUTCOMES)),
            Param("server", "the Asterisk it came in on (its asterisk.server_name)"),
            Param(
                "limit",
                "at most this many (1-500, default 100)",
                {"type": "integer", "minimum": 1, "maximum": 500},
            ),
            Param("cursor", "next_cursor of the previous page, as it came"),
        ),
        ok="calls and next_cursor (null on the last page)",
        errors=(400,),
    ),
    ("GET", "/api/calls/{call_id}"): Operation(
        "one call with its menu steps, queue stays and the transfers agents made of it",
        "calls",
        errors=(404,),
    ),
    ("GET", "/api/follow-ups"): Operation(
        "follow-ups (督办) for supervisors, oldest first",
        "callbacks",
        (
            Param("state", "default open", _enum("open", "resolved", "all")),
            Param("flagged", "callbacks flagged for a person", _enum("true", "false")),
            LIMIT,
        ),
        errors=(400,),
    ),
    ("GET", "/api/follow-ups/{follow_up_id}"): Operation(
        "one follow-up", "callbacks", errors=(404,)
    ),
    ("POST", "/api/follow-ups/{follow_up_id}/resolve"): Operation(
        "resolve with a note (idempotent)", "callbacks", body=ResolveIn, errors=(404, 409, 422)
    ),
    ("POST", "/api/follow-ups/{follow_up_id}/requeue"): Operation(
        "give a flagged callback one more automatic attempt (idempotent)",
        "callbacks",
        body=RequeueIn,
        errors=(404, 409, 422),
    ),
    ("GET", "/api/do-not-call"): Operation(
        "the do-not-call list (勿扰), newest first, numbers masked",
        "callbacks",
        (Param("state", "default current", _enum("current", "removed", "all")), LIMIT),
        errors=(400,),
    ),
    ("POST", "/api/do-not-call"): Operation(
        "put a number on the list with the customer's request (cancels its waiting 回访)",
        "callbacks",
        body=DoNotCallIn,
        ok="the entry (201 when added, 200 when the number was already on the list)",
        ok_status=201,
        errors=(422,),
    ),
    ("DELETE", "/api/do-not-call"): Operation(
        "take a number off the list, with the reason (the entry is kept)",
        "callbacks",
        body=DoNotCallRemoveIn,
        errors=(404, 422),
    ),
    ("GET", "/api/crews"): Operation("repair crews (phones masked for integration)", "dispatch"),
    ("POST", "/api/crews"): Operation(
        "add a crew", "dispatch", body=CrewIn, ok_status=201, errors=(409, 422)
    ),
    ("GET", "/api/crews/{crew_id}"): Operation("one crew", "dispatch", errors=(404,)),
    ("PATCH", "/api/crews/{crew_id}"): Operation(
        "change a crew's name, phone or active flag",
        "dispatch",
        body=CrewPatch,
        errors=(404, 409, 422),
    ),
    ("GET", "/api/duty-shifts"): Operation(
        "shifts overlapping the range (default yesterday to a week ahead, at most 62 days)",
        "dispatch",
        (Param("from", "start, ISO 8601 with offset", ISO), Param("to", "end", ISO)),
        errors=(400,),
    ),
    ("POST", "/api/duty-shifts"): Operation(
        "add a shift (at most 7 days, priority 1-99)",
        "dispatch",
        body=ShiftIn,
        ok_status=201,
        errors=(422,),
    ),
    ("GET", "/api/duty-shifts/on-duty"): Operation(
        "the crews the dispatcher would call, in calling order",
        "dispatch",
        (Param("at", "the moment (default now), ISO 8601 with offset", ISO),),
        errors=(400,),
    ),
    ("DELETE", "/api/duty-shifts/{shift_id}"): Operation(
        "remove a shift", "dispatch", errors=(404,)
    ),
    ("GET", "/api/seats"): Operation("agents' SIP seats (never their secrets)", "seats"),
    ("POST", "/api/seats"): Operation(
        "add a seat: a PJSIP endpoint with a generated secret, shown in this answer only",
        "seats",
        body=SeatIn,
        ok="the seat with its username, realm and secret (shown once)",
        ok_status=201,
        errors=(400, 409, 422, 503),
    ),
    ("DELETE", "/api/seats/{name}"): Operation(
        "remove a seat (its phone can no longer register)", "seats", errors=(400, 404, 503)
    ),
    ("GET", "/api/customers"): Operation(
        "customers by 户号 (pages masked for every role; an agent's phone lookup in clear)",
        "storm days",
        (
            Param("area", "only this supply area"),
            Param("phone", "the customer(s) with this number (agents only)"),
            Param("after", "the last 户号 of the previous page"),
            _limit(1000),
        ),
        errors=(400, 403),
    ),
    ("GET", "/api/customers/{account_no}"): Operation(
        "one customer (户号)", "storm days", errors=(404,)
    ),
    ("PUT", "/api/customers/{account_no}"): Operation(
        "add or replace a customer (phones replaced whole)",
        "storm days",
        body=CustomerIn,
        errors=(404, 422),
    ),
    ("DELETE", "/api/customers/{account_no}"): Operation(
        "remove a customer", "storm days", ok="nothing", ok_status=204, errors=(404,)
    ),
    ("GET", "/api/outages"): Operation(
        "outages, latest start first, each with its callers informed",
        "storm days",
        (
            Param("state", "only this state", _enum("open", "closed", "cancelled")),
            _limit(1000),
        ),
        errors=(400,),
    ),
    ("POST", "/api/outages"): Operation(
        "declare an outage (agents: fault outages only)",
        "storm days",
        body=OutageIn,
        ok_status=201,
        errors=(403, 422),
    ),
    ("GET", "/api/outages/{outage_id}"): Operation(
        "one outage with its linked repair orders (which one carries the dispatch)",
        "storm days",
        errors=(404,),
    ),
    ("PATCH", "/api/outages/{outage_id}"): Operation(
        "change an open outage (areas, feeders, start, expected restoration, cause)",
        "storm days",
        body=OutagePatch,
        errors=(404, 409, 422),
    ),
    ("POST", "/api/outages/{outage_id}/close"): Operation(
        "power restored: closes its linked orders with the resolution, one 回访 per customer",
        "storm days",
        body=OutageCloseIn,
        errors=(404, 409, 422),
    ),
    ("POST", "/api/outages/{outage_id}/cancel"): Operation(
        "a planned outage that did not take place",
        "storm days",
        body=CancelIn,
        errors=(404, 409, 422),
    ),
    ("GET", "/api/outages/{outage_id}/history"): Operation(
        "every change of the outage, oldest first", "storm days", errors=(404,)
    ),
    ("GET", "/api/dashboard"): Operation(
        "the wallboard: headline figures and colours, queues, queue alarms, active outages "
        "with their informed callers, agents' states, today's figures; the live parts are the "
        "whole centre's when several bridges share PostgreSQL (bridges: whose pictures)",
        "dashboard",
    ),
    ("GET", "/api/alerts"): Operation(
        "alerts, newest first (default: open)",
        "alerts",
        (
            Param("state", "default open", _enum("open", "acknowledged", "all")),
            Param("level", "only this level", _enum("warning", "breach")),
            Param("since", "raised at or after, ISO 8601 with offset", ISO),
            LIMIT,
        ),
        errors=(400,),
    ),
    ("POST", "/api/alerts/{alert_id}/ack"): Operation(
        "acknowledge an alert (idempotent)", "alerts", errors=(404,)
    ),
    ("GET", "/api/deadlines"): Operation(
        "unmet deadlines grouped per order",
        "alerts",
        (
            Param("state", "default attention", _enum("attention", "at_risk", "overdue", "open")),
            Param("order_no", "one order only"),
        ),
        errors=(400,),
    ),
    ("GET", "/api/reports/monthly"): Operation(
        "the centre's and every agent's figures for a month",
        "reports",
        (
            Param("month", "YYYY-MM", MONTH, required=True),
            Param(
                "format", "default json; csv and xlsx as a download", _enum("json", "csv", "xlsx")
            ),
        ),
        ok="JSON, or the CSV / XLSX file",
        errors=(400,),
    ),
    ("GET", "/api/reports/monthly/me"): Operation(
        "the calling agent's own row",
        "reports",
        (Param("month", "YYYY-MM", MONTH, required=True),),
        errors=(400,),
    ),
    ("GET", "/api/reports/series"): Operation(
        "the centre's figures for N months ending with `to`, oldest first",
        "reports",
        (
            Param("to", "YYYY-MM", MONTH, required=True),
            Param("months", "1-24, default 6", {"type": "integer", "minimum": 1, "maximum": 24}),
        ),
        errors=(400,),
    ),
    ("GET", "/api/recordings"): Operation(
        "recorded calls, newest first (an agent: only their own calls)",
        "recordings",
        (
            Param("since", "started at or after, ISO 8601 with offset", ISO),
            Param("until", "started before, ISO 8601 with offset", ISO),
            LIMIT,
        ),
        errors=(400,),
    ),
    ("GET", "/api/recordings/{id}"): Operation(
        "one recording: state, duration, checksums, work orders, automatic findings"
        " (inspectors and supervisors also see who played it)",
        "recordings",
        errors=(404,),
    ),
    ("GET", "/api/recordings/{id}/audio"): Operation(
        "the WAV of one direction; a Range header is answered with 206 (seeking); every"
        " request is audited",
        "recordings",
        (
            Param("side", "default customer", _enum("agent", "customer")),
            Param("Range", "bytes=START-END (one range)", where="header"),
            Param("viewer", "signed link instead of the token: the viewer's token name"),
            Param("role", "signed link: the viewer's role"),
            Param("job", "signed link: the viewer's 工号 (empty if none)"),
            Param("exp", "signed link: expiry, Unix seconds", {"type": "integer"}),
            Param(
                "sig",
                "signed link: HMAC-SHA256 (hex) from POST …/playback-url; 401 once the"
                " viewer's token is revoked or expired",
            ),
        ),
        ok="audio/wav, whole (200) or the range asked for (206, Content-Range)",
        ok_type="audio/wav",
        errors=(400, 404, 410, 416),
    ),
    ("POST", "/api/calls/{call_id}/monitor"): Operation(
        "listen to, whisper to (the agent hears, the caller does not) or barge into a live"
        " answered call: the supervisor's own monitor phone rings (ChanSpy); audited",
        "monitoring",
        body=MonitorIn,
        ok="the audited session (outcome started)",
        ok_status=201,
        errors=(404, 409, 422, 503),
    ),
    ("GET", "/api/monitor-sessions"): Operation(
        "the listen / whisper / barge audit, newest first (who, when, which call, mode)",
        "monitoring",
        (Param("call_id", "only this call's"), LIMIT),
        errors=(400,),
    ),
    ("GET", "/api/monitor-phones"): Operation(
        "which seat rings for which supervisor's token name", "monitoring"
    ),
    ("PUT", "/api/monitor-phones/{principal}"): Operation(
        "admins: make a provisioned seat this token name's monitor phone",
        "monitoring",
        body=MonitorPhoneIn,
        errors=(400, 404, 422),
    ),
    ("DELETE", "/api/monitor-phones/{principal}"): Operation(
        "admins: remove a token name's monitor phone", "monitoring", errors=(404,)
    ),
    ("POST", "/api/recordings/{id}/playback-url"): Operation(
        "signed links (one per side) for the caller only, valid a few minutes, for a player"
        " that cannot send the token; someone else's call 403 (audited)",
        "recordings",
        ok="agent and customer: the audio URLs; expires_at",
        errors=(404,),
    ),
    ("GET", "/api/inspections/standard"): Operation(
        "the quality-inspection form's items (key, label, weight), points and pass ratio",
        "inspections",
    ),
    ("GET", "/api/inspections/queue"): Operation(
        "the calls the sampling rule drew for a period (a share of each agent's calls, every"
        " complaint call, every dissatisfied 回访), with reasons, findings and inspection",
        "inspections",
        (Param("period", "a day (2026-12-05) or month (2026-12), as [inspection] sample_per"),),
        errors=(400,),
    ),
    ("POST", "/api/inspections"): Operation(
        "score one recorded call on the standard's items (one inspection per recording)",
        "inspections",
        body=InspectionIn,
        ok="the stored inspection",
        ok_status=201,
        errors=(404, 409, 422),
    ),
    ("GET", "/api/inspections"): Operation(
        "inspections, newest first (an agent: only of their own calls)",
        "inspections",
        (
            Param("since", "inspected at or after, ISO 8601 with offset", ISO),
            Param("until", "inspected before, ISO 8601 with offset", ISO),
            LIMIT,
        ),
        errors=(400,),
    ),
    ("GET", "/api/inspections/{id}"): Operation(
        "one inspection (an agent: only of their own call)", "inspections", errors=(404,)
    ),
    ("GET", "/api/agents"): Operation("agents with live state (an agent: only self)", "agents"),
    ("GET", "/api/agents/me"): Operation(
        "the calling agent: state (logged_out, ready, paused, after_call_work) with its reason"
        " and since when, queues, device state, current call, the pause reasons and transfer"
        " queues to offer",
        "agent state",
        errors=(404,),
    ),
    ("POST", "/api/agents/me/login"): Operation(
        "log in to the queues of the agent's skills (their own seat only)",
        "agent state",
        errors=(400, 404, 422, 503),
    ),
    ("POST", "/api/agents/me/logout"): Operation(
        "log out of every skill queue", "agent state", errors=(400, 404, 422, 503)
    ),
    ("POST", "/api/agents/me/pause"): Operation(
        "pause in every queue with one of the configured reasons (agents.pause_reasons)",
        "agent state",
        body=MePauseIn,
        errors=(400, 404, 422, 503),
    ),
    ("POST", "/api/agents/me/unpause"): Operation(
        "ready again after a pause", "agent state", errors=(400, 404, 422, 503)
    ),
    ("POST", "/api/agents/me/ready"): Operation(
        "end after-call work (话后处理) now", "agent state", errors=(404, 409, 422, 503)
    ),
    ("POST", "/api/agents/me/call/transfer"): Operation(
        "blind-transfer the call the agent is talking on to an allowed queue or to an agent"
        " by 工号 (recorded on the call)",
        "agent state",
        body=TransferIn,
        errors=(400, 404, 409, 422, 503),
    ),
    ("PUT", "/api/agents/{job}"): Operation(
        "register or change an agent (a desk phone `device`, or an `interface`)",
        "agents",
        body=AgentIn,
        errors=(400, 422),
    ),
    **{
        ("POST", f"/api/agents/{{job}}/{kind}"): Operation(
            f"{kind} the agent in every skill queue (AMI)",
            "agents",
            body=PauseIn if kind == "pause" else None,
            errors=(400, 404, 422, 503),
        )
        for kind in ("login", "logout", "pause", "unpause")
    },
    ("GET", "/api/agents/me/events"): Operation(
        "the agent's live feed (WebSocket, docs/workspace.md): the first message must be"
        ' {"type": "auth", "token": …} with an agent\'s token; close codes 4401, 4403, 4408,'
        " 4429, 1013",
        "workspace",
        ok="Switching Protocols: then JSON messages (ivr/services/workspace_events.yml)",
        ok_status=101,
        errors=(),
    ),
    ("GET", "/api/agents/me/work-orders"): Operation(
        "the agent's open orders (and those closed in 7 days, with their 回访), next deadline"
        " marked warning/breached",
        "workspace",
    ),
    ("GET", "/api/calls/{call_id}/work-orders"): Operation(
        "the orders linked to a call (an agent: only a call they answered or whose order they own)",
        "workspace",
        errors=(404,),
    ),
}

_STATUS_TEXT = {
    400: "bad request (not JSON, bad query)",
    401: "no or unknown bearer token",
    403: "the token's role is not allowed here",
    404: "no such thing",
    409: "not allowed in the current state",
    410: "gone: deleted by retention, or never written",
    413: "body too large",
    416: "the range is outside the file",
    422: "invalid input, with details per field",
    503: "Asterisk unreachable or refusing",
}
_PATH_PARAMS = {  # the same patterns the handlers check
    "order_no": Param("order_no", "work-order number", {"pattern": ORDER_NO.pattern}),
    "job": Param("job", "agent job number (工号)", {"pattern": JOB_NUMBER.pattern}),
    "name": Param("name", "seat name (PJSIP endpoint)", {"pattern": r"^[A-Za-z0-9]{1,32}$"}),
    "call_id": Param("call_id", "the bridge's call id", {"pattern": r"^[0-9a-f]{32}$"}),
}


def _path_param(name: str) -> dict[str, Any]:
    known = _PATH_PARAMS.get(name)
    if known is None:
        known = Param(name, "numeric id", {"type": "string", "pattern": r"^\d{1,10}$"})
    schema = {"type": "string", **known.schema}
    return Param(known.name, known.description, schema, where="path").as_openapi()


def build_spec(app: web.Application, prefix: str = "/api/") -> dict[str, Any]:
    """The OpenAPI document for every route of ``app`` under ``prefix``."""
    bodies = [(m, "validation") for m in _body_models()] + [(Error, "serialization")]
    _, defs = models_json_schema(bodies, ref_template=_REF)
    paths: dict[str, dict[str, Any]] = {}
    for route in app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if route.method in ("HEAD", "OPTIONS") or not path.startswith(prefix):
            continue
        paths.setdefault(path, {})[route.method.lower()] = _operation(
            route.method, path, route_roles(route.handler)
        )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "95598 hotline bridge API",
            "version": "1",
            "description": "JSON over HTTP with a bearer token per role; see docs/api.md.",
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


def _body_models() -> list[type[BaseModel]]:
    seen: dict[str, type[BaseModel]] = {}
    for op in OPERATIONS.values():
        if op.body is not None:
            seen[op.body.__name__] = op.body
    return list(seen.values())


def _operation(method: str, path: str, roles: frozenset[Role] | None) -> dict[str, Any]:
    op = OPERATIONS.get((method, path))
    allowed = sorted({r.value for r in roles or ()} | {Role.ADMIN.value})
    out: dict[str, Any] = {
        "operationId": _operation_id(method, path),
        "x-roles": allowed,
        "description": "roles: " + ", ".join(allowed),
    }
    if roles is None:  # no bearer header (a WebSocket authenticated by its first message)
        out |= {"x-roles": ["public"], "description": "no bearer header", "security": []}
    params = [_path_param(n) for n in _placeholders(path)]
    if op is None:
        out |= {"summary": "(undocumented)", "x-undocumented": True}
        op = Operation("", "")
    else:
        out |= {"summary": op.summary, "tags": [op.tag]}
        params += [p.as_openapi() for p in op.params]
    if params:
        out["parameters"] = params
    if op.body is not None:
        schema = {"$ref": _REF.format(model=op.body.__name__)}
        out["requestBody"] = {"required": True, "content": {"application/json": {"schema": schema}}}
    error = {"content": {"application/json": {"schema": {"$ref": _REF.format(model="Error")}}}}
    responses: dict[str, Any] = {
        str(op.ok_status): {"description": op.ok or "the result", "content": {op.ok_type: {}}}
    }
    for status in sorted({401, 403, *op.errors}):
        responses[str(status)] = {"description": _STATUS_TEXT[status], **error}
    out["responses"] = responses
    return out


def _placeholders(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{") and part.endswith("}")]


def _operation_id(method: str, path: str) -> str:
    words = [p.strip("{}").replace("-", "_") for p in path.removeprefix("/api/").split("/")]
    return method.lower() + "_" + "_".join(w for w in words if w)


def add_openapi_route(app: web.Application) -> None:
    """Serve the document; built once, when first asked (every route is registered by then)."""
    cached: dict[str, Any] = {}

    @requires(Role.AGENT, Role.SUPERVISOR, Role.INSPECTOR, Role.INTEGRATION)
    async def spec(request: web.Request) -> web.Response:
        if not cached:
            cached.update(build_spec(request.app))
        return json_response(request, cached, headers={"Cache-Control": "no-store"})

    app.router.add_get(SPEC_PATH, spec)
