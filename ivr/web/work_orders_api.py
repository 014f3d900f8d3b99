"""The work-order API: create (idempotent, optionally from a call), update, close (idempotent),
list/filter (status, kind, overdue) and the callback history of an order.

JSON in and out; input validated with pydantic; every error is ``{"error": …}`` with a status
that says what went wrong (400 bad JSON, 404, 409 conflict, 422 invalid). Agents act on the
orders they own (首问负责制: the owner is the agent who took it; a transfer of the call keeps
it, and only a supervisor reassigns the order, with a reason kept in its history).
"""

from __future__ import annotations

import re
from dataclasses import asdict
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import Field, StringConstraints

from ivr.domain.access import Principal, Role
from ivr.domain.dispatch import RosterNotFound
from ivr.domain.phone import InvalidPhone, PhoneNumber
from ivr.domain.privacy import mask_address, mask_name, mask_number
from ivr.domain.workorders import (
    CustomerClass,
    KeyReused,
    NewOrder,
    OrderConflict,
    OrderKind,
    OrderNotFound,
    OrderStatus,
    OrderView,
    TransitionError,
)
from ivr.services.work_orders import UnknownOwner, WorkOrderService
from ivr.web.auth import principal, requires
from ivr.web.errors import json_error
from ivr.web.json_body import json_response
from ivr.web.requests import (
    NO_CONTROLS,
    StrictIn,
    actor,
    body_hash,
    parse_body,
    path_order_no,
    query_choice,
    query_limit,
    to_json,
)

ORDERS = web.AppKey("work_orders", WorkOrderService)
_KEY = re.compile(r"^[A-Za-z0-9_.:-]{8,128}$")

JobNumber = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,16}$")]
Text = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=2000, pattern=NO_CONTROLS),
]


class CustomerIn(StrictIn):
    surname: Annotated[
        str,
        StringConstraints(
            strip_whitespace=True, min_length=1, max_length=4, pattern=r"^[^\x00-\x1f\x7f]*$"
        ),
    ]
    title: Literal["先生", "女士"]
    phone: Annotated[str, StringConstraints(max_length=20)]


class CreateIn(StrictIn):
    kind: OrderKind
    customer_class: CustomerClass | None = None
    customer: CustomerIn
    summary: Text
    call_id: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")] | None = None
    owner_job_number: JobNumber | None = None
    do_not_call: bool = False  # only false: the list is a supervisor's (/api/do-not-call)
    address: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
        | None
    ) = None
    fault: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
        | None
    ) = None


class UpdateIn(StrictIn):
    status: OrderStatus | None = None
    summary: Text | None = None
    do_not_call: bool | None = None  # refused: the list is a supervisor's (/api/do-not-call)
    note: Annotated[str, StringConstraints(max_length=500, pattern=NO_CONTROLS)] | None = None


class CloseIn(StrictIn):
    result: Text


def _idempotency_key(request: web.Request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is not None and not _KEY.match(key):
        raise json_error(web.HTTPBadRequest, "Idempotency-Key is 8-128 of A-Z a-z 0-9 _ . : -")
    return key


def _out(view: OrderView, who: Principal) -> dict[str, Any]:
    data = asdict(view)
    if who.role is Role.SUPERVISOR:  # supervisors watch the service, not the customer's data
        data["customer_phone"] = mask_number(view.customer_phone)
        data["customer_surname"] = mask_name(view.customer_surname)
        data["address"] = mask_address(view.address)
    return to_json(data)


async def _owned(request: web.Request, order_no: str) -> OrderView:
    """The order, if the caller may see it: agents only their own (首问负责制)."""
    try:
        view = await request.app[ORDERS].get(order_no)
    except OrderNotFound:
        raise json_error(web.HTTPNotFound, "no such work order") from None
    who = principal(request)
    if who.role is Role.AGENT and view.owner_job_number != who.job_number:
        raise json_error(web.HTTPForbidden, "this order belongs to another agent")
    return view


def _not_on_the_order() -> web.HTTPException:
    """Whether a customer is called back is not the order owner's to decide (an agent could
    spare their own order its 回访): the list is per number, kept by supervisors."""
    return json_error(
        web.HTTPForbidden,
        "do_not_call is not set on an order: a supervisor adds the customer's number, with "
        "their request, to the do-not-call list (POST /api/do-not-call)",
    )


@requires(Role.INTEGRATION, Role.AGENT)
async def create_order(request: web.Request) -> web.Response:
    key = _idempotency_key(request)
    body: CreateIn = await parse_body(request, CreateIn)
    who = principal(request)
    if body.do_not_call:
        raise _not_on_the_order()
    owner = body.owner_job_number
    if who.role is Role.AGENT:
        if owner not in (None, who.job_number):
            raise json_error(web.HTTPForbidden, "an agent creates orders as their own owner")
        owner = who.job_number
    if owner is None:
        raise json_error(web.HTTPUnprocessableEntity, "owner_job_number is required")
    try:
        phone = PhoneNumber(body.customer.phone)
    except InvalidPhone as exc:
        raise json_error(web.HTTPUnprocessableEntity, f"customer.phone: {exc}") from None
    new = NewOrder(
        kind=body.kind,
        customer_class=body.customer_class,
        owner_job_number=owner,
        customer_surname=body.customer.surname,
        customer_title=body.customer.title,
        customer_phone=phone,
        summary=body.summary,
        call_id=body.call_id,
        address=body.address,
        fault=body.fault,
    )
    try:
        view, created = await request.app[ORDERS].create(
            new, actor(who), key, body_hash(body, owner_job_number=owner)
        )
    except KeyReused as exc:
        raise json_error(web.HTTPConflict, str(exc)) from None
    except ValueError as exc:  # kind/class mismatch, unknown call id
        raise json_error(web.HTTPUnprocessableEntity, str(exc)) from None
    return json_response(request, _out(view, who), status=201 if created else 200)


@requires(Role.INTEGRATION, Role.AGENT, Role.SUPERVISOR)
async def list_orders(request: web.Request) -> web.Response:
    who, query = principal(request), request.query
    status = query_choice(query, "status", [s.value for s in OrderStatus])
    kind = query_choice(query, "kind", [k.value for k in OrderKind])
    overdue = query_choice(query, "overdue", ["true", "false"])
    limit = query_limit(query)
    owner = who.job_number if who.role is Role.AGENT else query.get("owner")
    views = await request.app[ORDERS].list(
        OrderStatus(status) if status else None,
        OrderKind(kind) if kind else None,
        None if overdue is None else overdue == "true",
        owner,
        limit,
    )
    return json_response(request, {"orders": [_out(v, who) for v in views]})


@requires(Role.INTEGRATION, Role.AGENT, Role.SUPERVISOR)
async def get_order(request: web.Request) -> web.Response:
    view = await _owned(request, path_order_no(request))
    return json_response(request, _out(view, principal(request)))


@requires(Role.INTEGRATION, Role.AGENT, Role.SUPERVISOR)
async def callback_history(request: web.Request) -> web.Response:
    view = await _owned(request, path_order_no(request))
    return json_response(request, {"order_no": view.order_no, "callback": to_json(view.callback)})


@requires(Role.INTEGRATION, Role.AGENT)
async def update_order(request: web.Request) -> web.Response:
    order_no = path_order_no(request)
    await _owned(request, order_no)
    body: UpdateIn = await parse_body(request, UpdateIn)
    if body.do_not_call is not None:
        raise _not_on_the_order()
    try:
        view = await request.app[ORDERS].update(
            order_no,
            actor(principal(request)),
            status=body.status,
            summary=body.summary,
            note=body.note,
        )
    except (TransitionError, OrderConflict) as exc:
        raise json_error(web.HTTPConflict, str(exc)) from None
    return json_response(request, _out(view, principal(request)))


@requires(Role.INTEGRATION, Role.AGENT)
async def close_order(request: web.Request) -> web.Response:
    order_no = path_order_no(request)
    key = _idempotency_key(request)
    await _owned(request, order_no)
    body: CloseIn = await parse_body(request, CloseIn)
    try:
        view = await request.app[ORDERS].close(
            order_no, body.result, actor(principal(request)), key, body_hash(body)
        )
    except (TransitionError, OrderConflict) as exc:
        raise json_error(web.HTTPConflict, str(exc)) from None
    return json_response(request, _out(view, principal(request)))


class AcceptanceIn(StrictIn):
    """``POST /api/work-orders/{no}/dispatch-acceptance``: a crew's 接令 that did not come by
    phone, with why (it is in the order's history, and the figures count it as dispatched)."""

    reason: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=2, max_length=500, pattern=NO_CONTROLS),
    ]
    crew_id: int | None = Field(None, ge=1)


@requires(Role.SUPERVISOR)
async def record_dispatch_acceptance(request: web.Request) -> web.Response:
    order_no = path_order_no(request)
    body: AcceptanceIn = await parse_body(request, AcceptanceIn)
    try:
        view = await request.app[ORDERS].record_dispatch_acceptance(
            order_no, actor(principal(request)), body.reason, body.crew_id
        )
    except OrderNotFound:
        raise json_error(web.HTTPNotFound, "no such work order") from None
    except RosterNotFound as exc:
        raise json_error(web.HTTPUnprocessableEntity, str(exc)) from None
    except OrderConflict as exc:
        raise json_error(web.HTTPConflict, str(exc)) from None
    return json_response(request, _out(view, principal(request)))


class ReassignIn(StrictIn):
    """``POST /api/work-orders/{no}/reassign``: the new owner's 工号 and why (kept in the
    order's history)."""

    owner_job_number: JobNumber
    reason: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=2, max_length=500, pattern=NO_CONTROLS),
    ]


@requires(Role.SUPERVISOR)
async def reassign_order(request: web.Request) -> web.Response:
    """首问负责制: the owner stays the agent who took the call (a transfer changes nothing);
    a supervisor may give the order to another agent, with a reason."""
    order_no = path_order_no(request)
    body: ReassignIn = await parse_body(request, ReassignIn)
    try:
        view = await request.app[ORDERS].reassign(
            order_no, body.owner_job_number, body.reason, actor(principal(request))
        )
    except OrderNotFound:
        raise json_error(web.HTTPNotFound, "no such work order") from None
    except UnknownOwner as exc:
        raise json_error(web.HTTPUnprocessableEntity, f"owner_job_number: {exc}") from None
    except OrderConflict as exc:
        raise json_error(web.HTTPConflict, str(exc)) from None
    return json_response(request, _out(view, principal(request)))


def add_routes(app: web.Application, orders: WorkOrderService) -> None:
    app[ORDERS] = orders
    app.router.add_post("/api/work-orders", create_order)
    app.router.add_get("/api/work-orders", list_orders)
    app.router.add_get("/api/work-orders/{order_no}", get_order)
    app.router.add_patch("/api/work-orders/{order_no}", update_order)
    app.router.add_post("/api/work-orders/{order_no}/close", close_order)
    app.router.add_post(
        "/api/work-orders/{order_no}/dispatch-acceptance", record_dispatch_acceptance
    )
    app.router.add_get("/api/work-orders/{order_no}/callbacks", callback_history)
    app.router.add_post("/api/work-orders/{order_no}/reassign", reassign_order)
