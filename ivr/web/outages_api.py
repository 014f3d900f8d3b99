"""The customer register (``/api/customers``) and the outage register (``/api/outages``).

Customers are personal data: agents (who answer the caller) see a customer's name, phones and
address when they look one up (by 户号 or by the calling number); pages of the register are
masked for everyone (no bulk export), and supervisors and the outside system (integration), who
keep the register up to date, read it masked, as supervisors read work orders. Outages carry
no personal data: every role reads them; agents may declare a fault outage (repair calls
clustering in one area), supervisors and the integration manage all of them. Errors are
``{"error": …}`` like every other API: 404, 409 (a closed outage), 422.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from aiohttp import web
from pydantic import AwareDatetime, Field, StringConstraints

from ivr.domain.access import Principal, Role
from ivr.domain.outage_files import parse_phones
from ivr.domain.outages import (
    Customer,
    CustomerNotFound,
    Outage,
    OutageConflict,
    OutageError,
    OutageKind,
    OutageNotFound,
    OutageState,
    check_account_no,
    check_place,
)
from ivr.domain.privacy import mask_address, mask_name, mask_number
from ivr.services.outages import OutageService
from ivr.web.auth import principal, requires
from ivr.web.errors import json_error
from ivr.web.json_body import json_response
from ivr.web.requests import (
    StrictIn,
    actor,
    parse_body,
    path_id,
    query_choice,
    query_limit,
    to_json,
)

OUTAGES = web.AppKey("outages", OutageService)
Place = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Cause = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
_READERS_OF_PEOPLE = (Role.AGENT,)  # who answers the customer; admin too


class CustomerIn(StrictIn):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    phones: list[Annotated[str, StringConstraints(max_length=20)]] = Field(
        min_length=1, max_length=10
    )
    address: Text
    area: Place
    feeder: Place | None = None


class OutageIn(StrictIn):
    kind: OutageKind = OutageKind.FAULT
    areas: list[Place] = Field(default_factory=list, max_length=200)
    feeders: list[Place] = Field(default_factory=list, max_length=200)
    starts_at: AwareDatetime
    expected_at: AwareDatetime
    cause: Cause


class OutagePatch(StrictIn):
    areas: list[Place] | None = Field(None, max_length=200)
    feeders: list[Place] | None = Field(None, max_length=200)
    starts_at: AwareDatetime | None = None
    expected_at: AwareDatetime | None = None
    cause: Cause | None = None


class OutageCloseIn(StrictIn):
    resolution: Text


class CancelIn(StrictIn):
    reason: Text


def _sees_people(who: Principal) -> bool:
    return who.may(frozenset(_READERS_OF_PEOPLE))


def customer_out(customer: Customer, who: Principal | None) -> dict[str, Any]:
    """The customer as JSON; personal data in clear only for ``who`` answers them."""
    data = asdict(customer)
    data["phones"] = list(customer.phones)
    if who is None or not _sees_people(who):
        data["name"] = mask_name(customer.name)
        data["phones"] = [mask_number(p) for p in customer.phones]
        data["address"] = mask_address(customer.address)
    return data


def outage_out(outage: Outage, informed: int | None = None) -> dict[str, Any]:
    data = to_json(asdict(outage))
    data["areas"], data["feeders"] = list(outage.areas), list(outage.feeders)
    if informed is not None:
        data["callers_informed"] = informed
    return data


def _account(request: web.Request) -> str:
    try:
        return check_account_no(request.match_info["account_no"])
    except OutageError:
        raise json_error(web.HTTPNotFound, "no such customer") from None


def _places(names: list[str], what: str) -> tuple[str, ...]:
    try:
        return tuple(dict.fromkeys(check_place(n, what) for n in names))
    except OutageError as exc:
        raise json_error(web.HTTPUnprocessableEntity, str(exc)) from None


# --- customers ---------------------------------------------------------------------------


@requires(Role.AGENT, Role.SUPERVISOR, Role.INTEGRATION)
async def list_customers(request: web.Request) -> web.Response:
    query = request.query
    limit = query_limit(query, maximum=1000)
    register = request.app[OUTAGES].customers
    who = principal(request)
    if "phone" in query:
        if not _sees_people(who):  # looking a person up by number is for who answers them
            raise json_error(web.HTTPForbidden, "looking customers up by phone is for agents")
        try:
            [phone] = parse_phones(query["phone"])
        except (OutageError, ValueError):
            raise json_error(web.HTTPBadRequest, "phone is one mainland number") from None
        found = await register.by_phone(phone)
    else:
        area = query.get("area")
        after = query.get("after")
        if after is not None and not after.isdigit():
            raise json_error(web.HTTPBadRequest, "after is a 户号")
        found = await register.list(area, limit, after)
        # a page of the register is not one caller: masked for everyone (no bulk export)
        return json_response(request, {"customers": [customer_out(c, None) for c in found]})
    return json_response(request, {"customers": [customer_out(c, who) for c in found]})


@requires(Role.AGENT, Role.SUPERVISOR, Role.INTEGRATION)
async def get_customer(request: web.Request) -> web.Response:
    try:
        customer = await request.app[OUTAGES].customers.get(_account(request))
    except CustomerNotFound:
        raise json_error(web.HTTPNotFound, "no such customer") from None
    return json_response(request, customer_out(customer, principal(request)))


@requires(Role.SUPERVISOR, Role.INTEGRATION)
async def put_customer(request: web.Request) -> web.Response:
    account = _account(request)
    body: CustomerIn = await parse_body(request, CustomerIn)
    try:
        customer = Customer(
            account_no=account,
            name=body.name,
            phones=parse_phones(" ".join(body.phones)),
            address=body.address,
            area=check_place(body.area, "area"),
            feeder=check_place(body.feeder, "feeder") if body.feeder else None,
        )
    except OutageError as exc:
        raise json_error(web.HTTPUnprocessableEntity, str(exc)) from None
    await request.app[OUTAGES].customers.upsert([customer])
    return json_response(request, customer_out(customer, principal(request)))


@requires(Role.SUPERVISOR)
async def delete_customer(request: web.Request) -> web.Response:
    try:
        await request.app[OUTAGES].customers.delete(_account(request))
    except CustomerNotFound:
        raise json_error(web.HTTPNotFound, "no such customer") from None
    return web.Response(status=204)


# --- outages -----------------------------------------------------------------------------


@requires(Role.AGENT, Role.SUPERVISOR, Role.INTEGRATION)
async def list_outages(request: web.Request) -> web.Response:
    limit = query_limit(request.query, maximum=1000)
    raw = query_choice(request.query, "state", [s.value for s in OutageState])
    state = OutageState(raw) if raw is not None else None
    service = request.app[OUTAGES]
    found = await service.outages.list(state, limit)
    informed = await service.outages.informed_counts()
    return json_response(
        request, {"outages": [outage_out(o, informed.get(o.id, 0)) for o in found]}
    )


@requires(Role.AGENT, Role.SUPERVISOR, Role.INTEGRATION)
async def create_outage(request: web.Request) -> web.Response:
    body: OutageIn = await parse_body(request, OutageIn)
    who = principal(request)
    if who.role is Role.AGENT and body.kind is not OutageKind.FAULT:
        raise json_error(web.HTTPForbidden, "agents declare fault outages only")
    areas, feeders = _places(body.areas, "areas"), _places(body.feeders, "feeders")
    if not areas and not feeders:
        raise json_error(web.HTTPUnprocessableEntity, "an outage names an area or a feeder")
    try:
        outage = await request.app[OUTAGES].declare(
            body.kind, areas, feeders, body.starts_at, body.expected_at, body.cause, actor(who)
        )
    except (OutageError, OutageConflict) as exc:
        raise json_error(web.HTTPUnprocessableEntity, str(exc)) from None
    return json_response(request, outage_out(outage, 0), status=201)


async def _outage_id(request: web.Request) -> int:
    return path_id(request, "outage_id", "outage")


@requires(Role.AGENT, Role.SUPERVISOR, Role.INTEGRATION)
async def get_outage(request: web.Request) -> web.Response:
    service = request.app[OUTAGES]
    outage_id = await _outage_id(request)
    try:
        outage = await service.outages.get(outage_id)
        orders = await service.outages.linked_orders(outage_id)
    except OutageNotFound:
        raise json_error(web.HTTPNotFound, "no such outage") from None
    informed = (await service.outages.informed_counts()).get(outage_id, 0)
    data = outage_out(outage, informed)
    data["orders"] = to_json(orders)
    return json_response(request, data)


@requires(Role.SUPERVISOR, Role.INTEGRATION)
async def update_outage(request: web.Request) -> web.Response:
    outage_id = await _outage_id(request)
    body: OutagePatch = await parse_body(request, OutagePatch)
    values: dict[str, Any] = {
        k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None
    }
    if "areas" in values:
        values["areas"] = _places(values["areas"], "areas")
    if "feeders" in values:
        values["feeders"] = _places(values["feeders"], "feeders")
    if not values:
        raise json_error(web.HTTPUnprocessableEntity, "nothing to change")
    try:
        outage = await request.app[OUTAGES].update(outage_id, values, actor(principal(request)))
    except OutageNotFound:
        raise json_error(web.HTTPNotFound, "no such outage") from None
    except OutageError as exc:
        raise json_error(web.HTTPUnprocessableEntity, str(exc)) from None
    except OutageConflict as exc:
        raise json_error(web.HTTPConflict, str(exc)) from None
    return json_response(request, outage_out(outage))


@requires(Role.SUPERVISOR, Role.INTEGRATION)
async def close_outage(request: web.Request) -> web.Response:
    outage_id = await _outage_id(request)
    body: OutageCloseIn = await parse_body(request, OutageCloseIn)
    try:
        outage, closed, owed = await request.app[OUTAGES].close(
            outage_id, body.resolution, actor(principal(request))
        )
    except OutageNotFound:
        raise json_error(web.HTTPNotFound, "no such outage") from None
    except OutageConflict as exc:
        raise json_error(web.HTTPConflict, str(exc)) from None
    data = outage_out(outage)
    data["orders_closed"], data["callbacks_scheduled"] = closed, owed
    return json_response(request, data)


@requires(Role.SUPERVISOR, Role.INTEGRATION)
async def cancel_outage(request: web.Request) -> web.Response:
    outage_id = await _outage_id(request)
    body: CancelIn = await parse_body(request, CancelIn)
    try:
        outage = await request.app[OUTAGES].cancel(
            outage_id, body.reason, actor(principal(request))
        )
    except OutageNotFound:
        raise json_error(web.HTTPNotFound, "no such outage") from None
    except OutageConflict as exc:
        raise json_error(web.HTTPConflict, str(exc)) from None
    return json_response(request, outage_out(outage))


@requires(Role.AGENT, Role.SUPERVISOR, Role.INTEGRATION)
async def outage_history(request: web.Request) -> web.Response:
    outage_id = await _outage_id(request)
    try:
        changes = await request.app[OUTAGES].outages.history(outage_id)
    except OutageNotFound:
        raise json_error(web.HTTPNotFound, "no such outage") from None
    return json_response(request, {"history": [to_json(asdict(c)) for c in changes]})


def add_routes(app: web.Application, service: OutageService) -> None:
    app[OUTAGES] = service
    app.router.add_get("/api/customers", list_customers)
    app.router.add_get("/api/customers/{account_no}", get_customer)
    app.router.add_put("/api/customers/{account_no}", put_customer)
    app.router.add_delete("/api/customers/{account_no}", delete_customer)
    app.router.add_get("/api/outages", list_outages)
    app.router.add_post("/api/outages", create_outage)
    app.router.add_get("/api/outages/{outage_id}", get_outage)
    app.router.add_patch("/api/outages/{outage_id}", update_outage)
    app.router.add_post("/api/outages/{outage_id}/close", close_outage)
    app.router.add_post("/api/outages/{outage_id}/cancel", cancel_outage)
    app.router.add_get("/api/outages/{outage_id}/history", outage_history)
