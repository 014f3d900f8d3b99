"""The duty roster API and the dispatch store on a real database (SQLite and PostgreSQL):
crews and shifts with roles and clear errors, who is on duty, and the dispatcher's claims
(order of crews, no double calls, lease recovery, acceptance dispatches the order)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from ivr.app import callback_policy
from ivr.calendar_cn import china_is_workday
from ivr.config import CallbackSettings
from ivr.db.dispatch_store import SqlDispatch
from ivr.db.duty_roster import SqlDutyRoster
from ivr.db.engine import create_engine
from ivr.db.tokens import SqlTokenStore
from ivr.db.workorders import NewOrder, SqlWorkOrders
from ivr.domain.access import Role
from ivr.domain.dispatch import CallResult, DispatchPolicy, Target
from ivr.domain.phone import PhoneNumber
from ivr.domain.workorders import OrderKind
from ivr.services.work_orders import WorkOrderService
from ivr.web import duty_roster_api as roster_api
from ivr.web import work_orders_api
from ivr.web.auth import auth_middleware

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class Env:
    def __init__(self, client: TestClient, tokens: dict[str, str], clock: Clock, engine: Any):
        self.client, self.tokens, self.clock = client, tokens, clock
        self.pokes = 0  # how often the roster API told the dispatcher of a change
        self.roster = SqlDutyRoster(engine, clock)
        self.dispatch = SqlDispatch(engine, self.roster, DispatchPolicy(), clock)
        self.orders = SqlWorkOrders(
            engine, china_is_workday, callback_policy(CallbackSettings()), clock
        )

    async def call(self, method: str, url: str, body: Any = None, role: str = "supervisor"):  # type: ignore[no-untyped-def]
        headers = {"Authorization": f"Bearer {self.tokens[role]}"}
        response = await self.client.request(method, url, json=body, headers=headers)
        return response.status, await response.json()

    async def crew(self, name: str, phone: str) -> int:
        status, body = await self.call("POST", "/api/crews", {"name": name, "phone": phone})
        assert status == 201, body
        return int(body["id"])

    async def shift(self, crew_id: int, hours: float, priority: int) -> dict[str, Any]:
        status, body = await self.call(
            "POST",
            "/api/duty-shifts",
            {
                "crew_id": crew_id,
                "starts_at": (T0 - timedelta(hours=1)).isoformat(),
                "ends_at": (T0 + timedelta(hours=hours)).isoformat(),
                "priority": priority,
            },
        )
        assert status == 201, body
        return body  # type: ignore[no-any-return]

    async def repair(self) -> str:
        new = NewOrder(
            OrderKind.REPAIR,
            None,
            "1024",
            "王",
            "先生",
            PhoneNumber("13800138000"),
            "停电",
            address="幸福路12号",
            fault="整栋楼停电",
        )
        view, _ = await self.orders.create(new, "test", None)
        return view.order_no


@pytest.fixture
async def env(db_url: str) -> AsyncIterator[Env]:
    engine = create_engine(db_url)
    store = SqlTokenStore(engine)
    tokens = {
        "supervisor": await store.create("sup", Role.SUPERVISOR),
        "admin": await store.create("root", Role.ADMIN),
        "agent": await store.create("agent-1024", Role.AGENT, "1024"),
        "integration": await store.create("wo-system", Role.INTEGRATION),
    }
    clock = Clock()
    app = web.Application(middlewares=[auth_middleware(store)])
    e = Env.__new__(Env)
    Env.__init__(e, None, tokens, clock, engine)  # type: ignore[arg-type]
    e.pokes = 0

    def poked() -> None:
        e.pokes += 1

    roster_api.add_routes(app, e.roster, e.dispatch, poked)
    work_orders_api.add_routes(app, WorkOrderService(e.orders))
    async with TestClient(TestServer(app)) as client:
        e.client = client
        yield e
    await engine.dispose()


# --- the roster API ---------------------------------------------------------------------


async def test_roles(env: Env) -> None:
    crew = {"name": "一班", "phone": "13700000001"}
    assert (await env.call("POST", "/api/crews", crew, "agent"))[0] == 403
    assert (await env.call("POST", "/api/crews", crew, "integration"))[0] == 403
    assert (await env.call("GET", "/api/crews", None, "agent"))[0] == 403
    assert (await env.call("POST", "/api/crews", crew, "admin"))[0] == 201
    status, body = await env.call("GET", "/api/crews", None, "integration")
    assert status == 200 and body["crews"][0]["phone"] == "137******01"  # read, masked
    status, body = await env.call("GET", "/api/crews")
    assert body["crews"][0]["phone"] == "13700000001"  # the supervisor manages them
    assert (await env.client.get("/api/crews")).status == 401


@pytest.mark.parametrize(
    ("body", "status", "problem"),
    [
        ({"name": "一班", "phone": "137 0000 0001"}, 422, "phone: a phone number is digits only"),
        ({"name": "一班", "phone": "12345"}, 422, "phone: not a mainland number"),
        ({"name": "一班", "phone": "13700000001&x"}, 422, "phone"),
        ({"name": "", "phone": "13700000001"}, 422, "invalid input"),
        ({"name": "一班", "phone": "13700000001", "extra": 1}, 422, "invalid input"),
    ],
)
async def test_bad_crews_are_refused_and_nothing_is_stored(env: Env, body, status, problem) -> None:  # type: ignore[no-untyped-def]
    got, answer = await env.call("POST", "/api/crews", body)
    assert got == status and answer["error"].startswith(problem), answer
    assert (await env.call("GET", "/api/crews"))[1]["crews"] == []


async def test_crew_names_are_unique_and_crews_can_be_changed(env: Env) -> None:
    crew_id = await env.crew("一班", "13700000001")
    status, body = await env.call("POST", "/api/crews", {"name": "一班", "phone": "13700000002"})
    assert status == 409 and "exists" in body["error"]
    status, body = await env.call(
        "PATCH", f"/api/crews/{crew_id}", {"phone": "02588886666", "active": False}
    )
    assert status == 200 and (body["phone"], body["active"]) == ("02588886666", False)
    assert (await env.call("PATCH", f"/api/crews/{crew_id}", {"phone": "x"}))[0] == 422
    assert (await env.call("PATCH", "/api/crews/999", {"active": True}))[0] == 404
    assert (await env.call("GET", "/api/crews/abc"))[0] == 404


async def test_shifts_and_who_is_on_duty_in_order(env: Env) -> None:
    a = await env.crew("一班", "13700000001")
    b = await env.crew("二班", "13700000002")
    c = await env.crew("三班", "13700000003")
    await env.shift(b, 8, 2)
    await env.shift(a, 8, 1)
    await env.shift(c, 8, 3)
    at = T0.isoformat().replace("+00:00", "Z")
    status, body = await env.call("GET", f"/api/duty-shifts/on-duty?at={at}")
    assert status == 200
    assert [(x["order"], x["name"]) for x in body["crews"]] == [
        (1, "一班"),
        (2, "二班"),
        (3, "三班"),
    ]
    await env.call("PATCH", f"/api/crews/{a}", {"active": False})  # off every roster at once
    status, body = await env.call("GET", f"/api/duty-shifts/on-duty?at={at}", None, "integration")
    assert [x["name"] for x in body["crews"]] == ["二班", "三班"]
    assert body["crews"][0]["phone"] == "137******02"
    later = (T0 + timedelta(hours=9)).isoformat()
    status, body = await env.call("GET", "/api/duty-shifts/on-duty", None)
    assert status == 200
    status, body = await env.call(
        "GET", f"/api/duty-shifts?from={T0.isoformat()}&to={later}".replace("+", "%2B")
    )
    assert status == 200 and len(body["shifts"]) == 3


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"ends_at": (T0 - timedelta(hours=2)).isoformat()}, "a shift must end after it starts"),
        ({"starts_at": "2026-03-02T01:00:00"}, "invalid input"),  # no offset
        ({"ends_at": (T0 + timedelta(days=9)).isoformat()}, "a shift lasts at most 7 days"),
        ({"priority": 0}, "invalid input"),
        ({"crew_id": 999}, "crew_id: no such crew"),
    ],
)
async def test_bad_shifts_are_refused(env: Env, change, problem) -> None:  # type: ignore[no-untyped-def]
    crew_id = await env.crew("一班", "13700000001")
    body = {
        "crew_id": crew_id,
        "starts_at": (T0 - timedelta(hours=1)).isoformat(),
        "ends_at": (T0 + timedelta(hours=8)).isoformat(),
        "priority": 1,
    } | change
    status, answer = await env.call("POST", "/api/duty-shifts", body)
    assert (status, answer["error"]) == (422, problem)
    assert (await env.call("GET", "/api/duty-shifts?from=x"))[0] == 400


async def test_shift_removal(env: Env) -> None:
    shift = await env.shift(await env.crew("一班", "13700000001"), 8, 1)
    assert (await env.call("DELETE", f"/api/duty-shifts/{shift['id']}", None, "integration"))[
        0
    ] == 403
    assert (await env.call("DELETE", f"/api/duty-shifts/{shift['id']}"))[0] == 200
    assert (await env.call("DELETE", f"/api/duty-shifts/{shift['id']}"))[0] == 404


async def test_work_orders_take_address_and_fault(env: Env) -> None:
    body = {
        "kind": "repair",
        "owner_job_number": "1024",
        "summary": "停电",
        "address": "朝阳区幸福路12号",
        "fault": "整栋楼停电",
        "customer": {"surname": "王", "title": "女士", "phone": "13800138000"},
    }
    status, order = await env.call("POST", "/api/work-orders", body, "integration")
    assert status == 201 and (order["address"], order["fault"]) == (
        "朝阳区幸福路12号",
        "整栋楼停电",
    )
    status, seen = await env.call("GET", f"/api/work-orders/{order['order_no']}")
    assert seen["address"] == "朝阳区幸*****"  # supervisors: masked
    status, bad = await env.call(
        "POST", "/api/work-orders", body | {"address": "x" * 201}, "integration"
    )
    assert status == 422 and bad["details"][0]["field"] == "address"


# --- the dispatch store --------------------------------------------------------------------


async def test_claims_call_crews_in_order_and_never_twice_at_once(env: Env) -> None:
    a = await env.crew("一班", "13700000001")
    b = await env.crew("二班", "13700000002")
    await env.shift(a, 8, 1)
    await env.shift(b, 8, 2)
    order_no = await env.repair()
    # two bridges claim at the same moment: one call between them
    got = await asyncio.gather(
        env.dispatch.claim("bridge-1", 15, 10), env.dispatch.claim("bridge-2", 15, 10)
    )
    claims = got[0] + got[1]
    assert len(claims) == 1 and claims[0].phone.digits == "13700000001"
    assert claims[0].ring_timeout_s == 25 and claims[0].target is Target.CREW
    assert await env.dispatch.claim("bridge-1", 15, 10) == []  # live call: nothing more
    owner = "bridge-1" if got[0] else "bridge-2"
    assert not await env.dispatch.start_originate(claims[0].action_id, "someone-else", 55)
    assert await env.dispatch.start_originate(claims[0].action_id, owner, 55)
    env.clock.now += timedelta(seconds=25)
    assert await env.dispatch.finish(claims[0].action_id, CallResult.NO_ANSWER, "reason 3")
    assert not await env.dispatch.finish(claims[0].action_id, CallResult.BUSY, "again")
    [second] = await env.dispatch.claim("bridge-1", 15, 10)
    assert second.phone.digits == "13700000002"
    await env.dispatch.start_originate(second.action_id, "bridge-1", 55)
    await env.dispatch.answered(second.action_id, "uid-2", 180)
    env.clock.now += timedelta(seconds=10)
    accepted_at = await env.dispatch.accept(second.action_id, 1)
    assert accepted_at == env.clock.now
    assert await env.dispatch.accept(second.action_id, 1) is None  # once
    view = await env.orders.get(order_no)
    assert view.status == "dispatched"
    [deadline] = view.deadlines
    assert (deadline["name"], deadline["met_at"], deadline["overdue"]) == (
        "dispatch",
        accepted_at,
        False,
    )
    assert view.history[-1]["actor"] == "dispatch:crew 二班"
    status, body = await env.call(
        "GET", f"/api/work-orders/{order_no}/dispatch", None, "integration"
    )
    assert status == 200
    calls = body["dispatch"]["calls"]
    assert [(c["crew_name"], c["result"], c["phone"]) for c in calls] == [
        ("一班", "no_answer", "137******01"),
        ("二班", "accepted", "137******02"),
    ]
    assert body["dispatch"]["dispatch_ms"] == 35_000
    assert await env.dispatch.claim("bridge-1", 15, 10) == []  # done


async def test_a_claim_never_dialled_goes_back_and_a_lost_call_counts_as_failed(env: Env) -> None:
    await env.shift(await env.crew("一班", "13700000001"), 8, 1)
    await env.repair()
    [claim] = await env.dispatch.claim("dead-bridge", 5, 10)
    env.clock.now += timedelta(seconds=6)
    assert await env.dispatch.recover() == 1
    assert not await env.dispatch.start_originate(claim.action_id, "dead-bridge", 55)  # too late
    [again] = await env.dispatch.claim("bridge", 5, 10)
    assert again.phone == claim.phone and again.action_id != claim.action_id
    assert await env.dispatch.start_originate(again.action_id, "bridge", 55)
    env.clock.now += timedelta(seconds=56)  # Asterisk never answered the originate
    assert await env.dispatch.recover() == 1
    assert not await env.dispatch.finish(again.action_id, CallResult.BUSY, "late event")


async def test_at_risk_after_the_set_time_once_and_exhausted_at_once(env: Env) -> None:
    await env.shift(await env.crew("一班", "13700000001"), 8, 1)
    late = await env.repair()
    [claim] = await env.dispatch.claim("bridge", 15, 10)
    assert await env.dispatch.at_risk() == []
    env.clock.now += timedelta(minutes=3)
    [risk] = await env.dispatch.at_risk()
    assert (risk.order_no, risk.due_at) == (late, T0 + timedelta(minutes=5))
    await env.dispatch.alerted(risk.job_id)
    assert await env.dispatch.at_risk() == []
    await env.dispatch.finish(claim.action_id, CallResult.NO_ANSWER, None)
    nobody = await env.repair()  # the only crew is called for the first order's 2nd round…
    env.clock.now += timedelta(seconds=1)
    claims = await env.dispatch.claim("bridge", 15, 10)
    assert [c.order_no for c in claims] == [late]  # …and is busy for the new one
    assert (await env.dispatch.for_order(nobody))["calls"] == []  # waits, no call


async def test_a_job_that_found_nobody_is_planned_again_when_the_roster_changes(
    env: Env,
) -> None:
    """Nobody on duty: the jobs are exhausted. A crew and shift added through the roster API
    while the limit still runs (13 s gone, 287 s left) poke the dispatcher, whose next round
    plans the job again and calls the new crew; a job whose limit is over stays exhausted."""
    env.clock.now = T0 - timedelta(minutes=6)
    late = await env.repair()
    assert await env.dispatch.claim("bridge", 15, 10) == []
    env.clock.now = T0
    order_no = await env.repair()
    assert await env.dispatch.claim("bridge", 15, 10) == []
    for found in (late, order_no):
        job = await env.dispatch.for_order(found)
        assert job["state"] == "exhausted" and job["calls"] == []
    env.clock.now += timedelta(seconds=13)
    await env.shift(await env.crew("夜班", "13700000009"), 8, 1)
    assert env.pokes == 2  # the crew, then the shift
    [claim] = await env.dispatch.claim("bridge", 15, 10)
    assert (claim.order_no, claim.phone.digits) == (order_no, "13700000009")
    assert (await env.dispatch.for_order(order_no))["state"] == "active"
    assert (await env.dispatch.for_order(late))["state"] == "exhausted"


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("一班\x00", "U+0000"),
        ("一班\x1b[2J", "U+001B"),
        ("一班\x07", "U+0007"),
        ("一\x85班", "U+0085"),  # C1: NEL
        ("\u202e班一", "U+202E"),  # right-to-left override
    ],
)
async def test_crew_names_with_characters_no_person_types_are_422(env: Env, name, problem) -> None:  # type: ignore[no-untyped-def]
    got, answer = await env.call("POST", "/api/crews", {"name": name, "phone": "13700000001"})
    assert got == 422, answer
    [detail] = answer["details"]
    assert detail["field"] == "name" and f"contains {problem}" in detail["problem"]
    assert (await env.call("GET", "/api/crews"))[1]["crews"] == []


@pytest.mark.parametrize("crew_id", [10**40, 2**31])
async def test_a_crew_id_no_database_holds_is_422_not_500(env: Env, crew_id: int) -> None:
    got, answer = await env.call(
        "POST",
        "/api/duty-shifts",
        {
            "crew_id": crew_id,
            "starts_at": T0.isoformat(),
            "ends_at": (T0 + timedelta(hours=1)).isoformat(),
            "priority": 1,
        },
    )
    assert got == 422, answer
    assert answer["details"][0]["field"] == "crew_id"
    assert "must be between -2147483648 and 2147483647" in answer["details"][0]["problem"]
    assert (await env.call("GET", "/api/crews/4294967296"))[0] == 404
