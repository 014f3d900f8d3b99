"""The work-order API: create (idempotent, optionally from a call), update, close (idempotent),
list/filter (status, kind, overdue) and the callback history of an order.

JSON in and out; input validated with pydantic; every error is ``{"error": …}`` with a status
that says what went wrong (400 bad JSON, 404, 409 conflict, 422 invalid). Agents act on the
orders they own (首问负责制: the owner is the agent who took it and never changes).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError

from ivr.db.workorders import NewOrder, OrderConflict, OrderNotFound, OrderView, SqlWorkOrders
from ivr.domain.access import Principal, Role
from ivr.domain.phone import InvalidPhone, PhoneNumber
from ivr.domain.privacy import mask_address, mask_name, mask_number
from ivr.domain.workorders import CustomerClass, OrderKind, OrderStatus, TransitionError
from ivr.web.auth import principal, requires
from ivr.web.errors import read_json

ORDERS = web.AppKey("work_orders", SqlWorkOrders)
_KEY = re.compile(r"^[A-Za-z0-9_.:-]{8,128}$")
_ORDER_NO = re.compile(r"^[0-9A-F]{20}$")

JobNumber = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,16}$")]
# Free text is kept verbatim (quotes, & | , ; and line breaks are legitimate in a summary);
# only control characters that no person types (NUL, escape…) are refused: PostgreSQL cannot
# store NUL, and terminal escapes have no place in a record.
_NO_CONTROLS = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
Text = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=2000, pattern=_NO_CONTROLS),
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CustomerIn(_In):
    surname: Annotated[
        str,
        StringConstraints(
            strip_whitespace=True, min_length=1, max_length=4, pattern=r"^[^\x00-\x1f\x7f]*$"
        ),
    ]
    title: Literal["先生", "女士"]
    phone: Annotated[str, StringConstraints(max_length=20)]


class CreateIn(_In):
    kind: OrderKind
    customer_class: CustomerClass | None = None
    customer: CustomerIn
    summary: Text
    call_id: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")] | None = None
    owner_job_number: JobNumber | None = None
    do_not_call: bool = False
    address: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
        | None
    ) = None
    fault: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
        | None
    ) = None


class UpdateIn(_In):
    status: OrderStatus | None = None
    summary: Text | None = None
    do_not_call: bool | None = None
    note: Annotated[str, StringConstraints(max_length=500, pattern=_NO_CONTROLS)] | None = None


class CloseIn(_In):
    result: Text


def _error(kind: type[web.HTTPException], message: str, **extra: Any) -> web.HTTPException:
    return kind(text=json.dumps({"error": message, **extra}), content_type="application/json")


async def _body(request: web.Request, model: type[_In]) -> Any:
    raw = await read_json(request)
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        details = [
            {"field": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]}
            for e in exc.errors(include_url=False, include_input=False)
        ]
        raise _error(web.HTTPUnprocessableEntity, "invalid input", details=details) from None


def _idempotency_key(request: web.Request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is not None and not _KEY.match(key):
        raise _error(web.HTTPBadRequest, "Idempotency-Key is 8-128 of A-Z a-z 0-9 _ . : -")
    return key


def _order_no(request: web.Request) -> str:
    order_no = request.match_info["order_no"]
    if not _ORDER_NO.match(order_no):
        raise _error(web.HTTPNotFound, "no such work order")
    return order_no


def _json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json(v) for v in value]
    return value


def _out(view: OrderView, who: Principal) -> dict[str, Any]:
    data = asdict(view)
    if who.role is Role.SUPERVISOR:  # supervisors watch the service, not the customer's data
        data["customer_phone"] = mask_number(view.customer_phone)
        data["customer_surname"] = mask_name(view.customer_surname)
        data["address"] = mask_address(view.address)
    return _json(data)


async def _owned(request: web.Request, order_no: str) -> OrderView:
    """The order, if the caller may see it: agents only their own (首问负责制)."""
    try:
        view = await request.app[ORDERS].get(order_no)
    except OrderNotFound:
        raise _error(web.HTTPNotFound, "no such work order") from None
    who = principal(request)
    if who.role is Role.AGENT and view.owner_job_number != who.job_number:
        raise _error(web.HTTPForbidden, "this order belongs to another agent")
    return view


def _actor(who: Principal) -> str:
    return f"{who.role.value}:{who.job_number or who.name}"[:64]


@requires(Role.INTEGRATION, Role.AGENT)
async def create_order(request: web.Request) -> web.Response:
    key = _idempotency_key(request)
    body: CreateIn = await _body(request, CreateIn)
    who = principal(request)
    owner = body.owner_job_number
    if who.role is Role.AGENT:
        if owner not in (None, who.job_number):
            raise _error(web.HTTPForbidden, "an agent creates orders as their own owner")
        owner = who.job_number
    if owner is None:
        raise _error(web.HTTPUnprocessableEntity, "owner_job_number is required")
    try:
        phone = PhoneNumber(body.customer.phone)
    except InvalidPhone as exc:
        raise _error(web.HTTPUnprocessableEntity, f"customer.phone: {exc}") from None
    new = NewOrder(
        kind=body.kind,
        customer_class=body.customer_class,
        owner_job_number=owner,
        customer_surname=body.customer.surname,
        customer_title=body.customer.title,
        customer_phone=phone,
        summary=body.summary,
        call_id=body.call_id,
        do_not_call=body.do_not_call,
        address=body.address,
        fault=body.fault,
    )
    try:
        view, created = await request.app[ORDERS].create(new, _actor(who), key)
    except ValueError as exc:  # kind/class mismatch, unknown call id
        raise _error(web.HTTPUnprocessableEntity, str(exc)) from None
    return web.json_response(_out(view, who), status=201 if created else 200)


@requires(Role.INTEGRATION, Role.AGENT, Role.SUPERVISOR)
async def list_orders(request: web.Request) -> web.Response:
    who, query = principal(request), request.query
    try:
        status = OrderStatus(query["status"]) if "status" in query else None
        kind = OrderKind(query["kind"]) if "kind" in query else None
        limit = int(query.get("limit", "100"))
    except ValueError as exc:
        raise _error(web.HTTPBadRequest, str(exc)) from None
    overdue = {"true": True, "false": False, None: None}.get(query.get("overdue"), "bad")
    if overdue == "bad" or not 1 <= limit <= 500:
        raise _error(web.HTTPBadRequest, "overdue is true|false; limit is 1-500")
    owner = who.job_number if who.role is Role.AGENT else query.get("owner")
    views = await request.app[ORDERS].list(status, kind, overdue, owner, limit)  # type: ignore[arg-type]
    return web.json_response({"orders": [_out(v, who) for v in views]})


@requires(Role.INTEGRATION, Role.AGENT, Role.SUPERVISOR)
async def get_order(request: web.Request) -> web.Response:
    return web.json_response(_out(await _owned(request, _order_no(request)), principal(request)))


@requires(Role.INTEGRATION, Role.AGENT, Role.SUPERVISOR)
async def callback_history(request: web.Request) -> web.Response:
    view = await _owned(request, _order_no(request))
    return web.json_response({"order_no": view.order_no, "callback": _json(view.callback)})


@requires(Role.INTEGRATION, Role.AGENT)
async def update_order(request: web.Request) -> web.Response:
    order_no = _order_no(request)
    await _owned(request, order_no)
    body: UpdateIn = await _body(request, UpdateIn)
    try:
        view = await request.app[ORDERS].update(
            order_no,
            _actor(principal(request)),
            status=body.status,
            summary=body.summary,
            do_not_call=body.do_not_call,
            note=body.note,
        )
    except (TransitionError, OrderConflict) as exc:
        raise _error(web.HTTPConflict, str(exc)) from None
    return web.json_response(_out(view, principal(request)))


@requires(Role.INTEGRATION, Role.AGENT)
async def close_order(request: web.Request) -> web.Response:
    order_no = _order_no(request)
    key = _idempotency_key(request)
    await _owned(request, order_no)
    body: CloseIn = await _body(request, CloseIn)
    try:
        view = await request.app[ORDERS].close(
            order_no, body.result, _actor(principal(request)), key
        )
    except (TransitionError, OrderConflict) as exc:
        raise _error(web.HTTPConflict, str(exc)) from None
    return web.json_response(_out(view, principal(request)))


def add_routes(app: web.Application, orders: SqlWorkOrders) -> None:
    app[ORDERS] = orders
    app.router.add_post("/api/work-orders", create_order)
    app.router.add_get("/api/work-orders", list_orders)
    app.router.add_get("/api/work-orders/{order_no}", get_order)
    app.router.add_patch("/api/work-orders/{order_no}", update_order)
    app.router.add_post("/api/work-orders/{order_no}/close", close_order)
    app.router.add_get("/api/work-orders/{order_no}/callbacks", callback_history)
