"""The work-order API on a real aiohttp server over a real database (SQLite and PostgreSQL):
create (idempotent, linked to a call), update with transitions, close (idempotent, one callback),
overdue filter, roles and 首问负责制, validation errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from ivr.calendar_cn import china_is_workday
from ivr.db.calls import SqlCallRepository
from ivr.db.dispatch_store import SqlDispatch
from ivr.db.duty_roster import SqlDutyRoster
from ivr.db.engine import create_engine
from ivr.db.tokens import SqlTokenStore
from ivr.db.workorder_models import orders_table, tasks_table
from ivr.db.workorders import SqlWorkOrders
from ivr.domain.access import Role
from ivr.domain.callbacks import CallbackPolicy
from ivr.domain.calls import CallOutcome, CallRecord
from ivr.domain.dispatch import DispatchPolicy
from ivr.services.work_orders import WorkOrderService
from ivr.web import work_orders_api as api
from ivr.web.auth import auth_middleware


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 2, 13, 2, 0, tzinfo=UTC)  # Friday before Spring Festival

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def env(db_url: str) -> AsyncIterator[tuple[TestClient, dict[str, str], Clock, object]]:
    engine = create_engine(db_url)
    store = SqlTokenStore(engine)
    tokens = {
        "integration": await store.create("wo-system", Role.INTEGRATION),
        "agent": await store.create("agent-1024", Role.AGENT, "1024"),
        "other": await store.create("agent-2048", Role.AGENT, "2048"),
        "supervisor": await store.create("sup", Role.SUPERVISOR),
    }
    clock = Clock()
    orders = SqlWorkOrders(engine, china_is_workday, CallbackPolicy(), clock)
    app = web.Application(middlewares=[auth_middleware(store)])
    dispatch = SqlDispatch(engine, SqlDutyRoster(engine, clock), DispatchPolicy(), clock)
    api.add_routes(app, WorkOrderService(orders, acceptances=dispatch))
    await SqlCallRepository(engine).add(
        CallRecord(
            "a" * 32, "u1", "13800138000", "95598", "Local/x", clock.now, outcome=CallOutcome.ROUTED
        )
    )
    async with TestClient(TestServer(app)) as client:
        yield client, tokens, clock, engine
    await engine.dispose()


def auth(token: str, key: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}"}
    if key:
        headers["Idempotency-Key"] = key
    return headers


REPAIR = {
    "kind": "repair",
    "customer": {"surname": "王", "title": "先生", "phone": "13800138000"},
    "summary": "整栋楼停电",
    "owner_job_number": "1024",
}


async def test_create_is_idempotent_and_linked_to_a_call(env) -> None:  # type: ignore[no-untyped-def]
    client, tokens, _, _ = env
    body = {**REPAIR, "call_id": "a" * 32}
    first, second = await asyncio.gather(
        client.post(
            "/api/work-orders", json=body, headers=auth(tokens["integration"], "req-000001")
        ),
        client.post(
            "/api/work-orders", json=body, headers=auth(tokens["integration"], "req-000001")
        ),
    )
    assert sorted([first.status, second.status]) == [200, 201]
    a, b = await first.json(), await second.json()
    assert a["order_no"] == b["order_no"]
    assert a["call_id"] == "a" * 32 and a["status"] == "created" and a["owner_job_number"] == "1024"
    [dispatch] = a["deadlines"]
    assert dispatch["name"] == "dispatch"
    listed = await (
        await client.get("/api/work-orders", headers=auth(tokens["integration"]))
    ).json()
    assert len(listed["orders"]) == 1


async def test_complaint_deadlines_follow_the_holiday_calendar(env) -> None:  # type: ignore[no-untyped-def]
    client, tokens, _, _ = env
    body = {**REPAIR, "kind": "complaint"}
    order = await (
        await client.post("/api/work-orders", json=body, headers=auth(tokens["agent"]))
    ).json()
    due = {d["name"]: d["due_at"] for d in order["deadlines"]}
    # Friday 13 Feb 2026 (Beijing): 5 working days are Sat 14 (调休), Tue 24 … Fri 27 Feb.
    assert datetime.fromisoformat(due["reply"]) == datetime(2026, 2, 27, 16, 0, tzinfo=UTC)
    assert datetime.fromisoformat(due["contact"]) == datetime(2026, 2, 14, 16, 0, tzinfo=UTC)


async def test_lifecycle_close_once_and_one_callback(env) -> None:  # type: ignore[no-untyped-def]
    client, tokens, clock, engine = env
    headers = auth(tokens["agent"])
    order = await (await client.post("/api/work-orders", json=REPAIR, headers=headers)).json()
    url = f"/api/work-orders/{order['order_no']}"
    bad = await client.patch(url, json={"status": "callback_done"}, headers=headers)
    assert bad.status == 409 and "cannot go from created" in (await bad.json())["error"]
    # the crew took it by radio: a supervisor records the acceptance with its reason
    ok = await client.post(
        url + "/dispatch-acceptance",
        json={"reason": "一班电台接令"},
        headers=auth(tokens["supervisor"]),
    )
    assert ok.status == 200, await ok.text()
    assert (await ok.json())["deadlines"][0]["met_at"] is not None
    closes = await asyncio.gather(
        *(
            client.post(
                url + "/close",
                json={"result": "已修复"},
                headers=auth(tokens["agent"], "close-0001"),
            )
            for _ in range(3)
        )
    )
    assert [r.status for r in closes] == [200, 200, 200]
    again = await client.post(
        url + "/close", json={"result": "x"}, headers=auth(tokens["agent"], "close-0002")
    )
    assert again.status == 409
    history = await (await client.get(url + "/callbacks", headers=headers)).json()
    assert history["callback"]["state"] == "pending" and history["callback"]["attempts"] == []
    early = await client.patch(url, json={"status": "archived"}, headers=headers)
    assert early.status == 409 and "still owes its callback" in (await early.json())["error"]
    async with engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(tasks_table))).scalar_one() == 1
    view = await (await client.get(url, headers=headers)).json()
    assert [h["to"] for h in view["history"]] == ["created", "dispatched", "closed"]
    del clock


async def test_overdue_filter(env) -> None:  # type: ignore[no-untyped-def]
    client, tokens, clock, _ = env
    headers = auth(tokens["integration"])
    late = await (await client.post("/api/work-orders", json=REPAIR, headers=headers)).json()
    clock.now += timedelta(minutes=6)  # the repair was never dispatched within 5 minutes
    fresh = await (await client.post("/api/work-orders", json=REPAIR, headers=headers)).json()
    overdue = await (await client.get("/api/work-orders?overdue=true", headers=headers)).json()
    assert [o["order_no"] for o in overdue["orders"]] == [late["order_no"]]
    on_time = await (
        await client.get("/api/work-orders?overdue=false&kind=repair", headers=headers)
    ).json()
    assert [o["order_no"] for o in on_time["orders"]] == [fresh["order_no"]]


async def test_owner_never_changes_and_agents_see_their_own(env) -> None:  # type: ignore[no-untyped-def]
    client, tokens, _, _ = env
    order = await (
        await client.post("/api/work-orders", json=REPAIR, headers=auth(tokens["agent"]))
    ).json()
    url = f"/api/work-orders/{order['order_no']}"
    assert (await client.get(url, headers=auth(tokens["other"]))).status == 403
    takeover = await client.patch(
        url, json={"owner_job_number": "2048"}, headers=auth(tokens["agent"])
    )
    assert takeover.status == 422  # there is no such field to change
    as_other = await client.post(
        "/api/work-orders",
        json={**REPAIR, "owner_job_number": "1024"},
        headers=auth(tokens["other"]),
    )
    assert as_other.status == 403
    sup = await (await client.get(url, headers=auth(tokens["supervisor"]))).json()
    assert sup["customer_phone"] == "138******00" and sup["customer_surname"] == "王"
    assert (
        await client.post(url + "/close", json={"result": "x"}, headers=auth(tokens["supervisor"]))
    ).status == 403


async def test_nobody_sets_do_not_call_on_an_order(env) -> None:  # type: ignore[no-untyped-def]
    """The list is per number and a supervisor's (tests/integration/test_do_not_call.py): the
    owner of an order cannot spare it its 回访, on create or later."""
    client, tokens, _, _ = env
    for who in ("agent", "integration"):
        refused = await client.post(
            "/api/work-orders", json={**REPAIR, "do_not_call": True}, headers=auth(tokens[who])
        )
        assert refused.status == 403 and "/api/do-not-call" in (await refused.json())["error"]
    order = await (
        await client.post("/api/work-orders", json=REPAIR, headers=auth(tokens["agent"]))
    ).json()
    assert order["do_not_call"] is False
    for value in (True, False):
        patched = await client.patch(
            f"/api/work-orders/{order['order_no']}",
            json={"do_not_call": value},
            headers=auth(tokens["agent"]),
        )
        assert patched.status == 403


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        (
            {**REPAIR, "customer": {**REPAIR["customer"], "phone": "138-0013-8000"}},
            422,
            "digits only",
        ),
        ({**REPAIR, "customer": {**REPAIR["customer"], "phone": "12345"}}, 422, "mainland"),
        ({**REPAIR, "kind": "business"}, 422, "customer_class"),
        ({**REPAIR, "customer_class": "residential"}, 422, "connections only"),
        ({**REPAIR, "kind": "gossip"}, 422, "invalid input"),
        ({**REPAIR, "call_id": "b" * 32}, 422, "call_id"),
        ({**REPAIR, "extra": 1}, 422, "invalid input"),
        ({**REPAIR, "customer": {**REPAIR["customer"], "title": "博士"}}, 422, "invalid input"),
    ],
)
async def test_bad_input_is_refused_clearly(env, body, status, needle) -> None:  # type: ignore[no-untyped-def]
    client, tokens, _, _ = env
    response = await client.post("/api/work-orders", json=body, headers=auth(tokens["integration"]))
    assert response.status == status
    assert needle in await response.text()


async def test_not_json_and_unknown_order(env) -> None:  # type: ignore[no-untyped-def]
    client, tokens, _, _ = env
    headers = auth(tokens["integration"])
    assert (await client.post("/api/work-orders", data="{", headers=headers)).status == 400
    assert (
        await client.get("/api/work-orders/0123456789ABCDEF0123", headers=headers)
    ).status == 404
    assert (await client.get("/api/work-orders?status=bogus", headers=headers)).status == 400
    assert (await client.get("/api/work-orders")).status == 401


# --- connection, meter test, meter-reading anomaly (0006_more_limits) ----------------------

TUE_29_SEP = datetime(2026, 9, 29, 2, 0, tzinfo=UTC)  # 10:00 in Beijing, before National Day


def utc(m: int, d: int, h: int = 16) -> datetime:
    return datetime(2026, m, d, h, tzinfo=UTC)


async def test_residential_connection_target_then_overdue(env) -> None:  # type: ignore[no-untyped-def]
    client, tokens, clock, _ = env
    headers = auth(tokens["integration"])
    clock.now = TUE_29_SEP
    body = {**REPAIR, "kind": "connection", "customer_class": "residential"}
    order = await (await client.post("/api/work-orders", json=body, headers=headers)).json()
    [d] = order["deadlines"]
    # Wed 30 Sep, (1–7 Oct off) Thu 8, Fri 9: target end of Thu 8, due end of Fri 9 (Beijing)
    assert d["name"] == "connection"
    assert datetime.fromisoformat(d["target_at"]) == utc(10, 8)
    assert datetime.fromisoformat(d["due_at"]) == utc(10, 9)
    assert (d["overdue"], d["past_target"]) == (False, False)

    clock.now = utc(10, 9, 1)  # past the target, inside the limit: a warning, not overdue
    url = f"/api/work-orders/{order['order_no']}"
    [d] = (await (await client.get(url, headers=headers)).json())["deadlines"]
    assert (d["overdue"], d["past_target"]) == (False, True)
    not_late = await (await client.get("/api/work-orders?overdue=false", headers=headers)).json()
    assert [o["order_no"] for o in not_late["orders"]] == [order["order_no"]]

    clock.now = utc(10, 9, 17)  # Sat 10 Oct 01:00 Beijing: the 3rd working day has ended
    late = await (await client.get("/api/work-orders?overdue=true", headers=headers)).json()
    assert [o["order_no"] for o in late["orders"]] == [order["order_no"]]
    closed = await (
        await client.post(url + "/close", json={"result": "已送电"}, headers=headers)
    ).json()
    assert closed["deadlines"][0]["met_at"] is not None and closed["callback"] is None
    assert (await (await client.get("/api/work-orders?overdue=true", headers=headers)).json())[
        "orders"
    ] == []


@pytest.mark.parametrize(
    ("kind", "cls", "name", "due"),
    [
        # Wed 30, Thu 8, Fri 9, Sat 10 (调休), Mon 12
        ("connection", "high_voltage_single", "connection", utc(10, 12)),
        ("meter_test", None, "test_result", utc(10, 12)),
        # … Tue 13, Wed 14
        ("meter_reading", None, "verify_reply", utc(10, 14)),
    ],
)
async def test_other_new_limits_are_stored(env, kind, cls, name, due) -> None:  # type: ignore[no-untyped-def]
    client, tokens, clock, _ = env
    clock.now = TUE_29_SEP
    body = {**REPAIR, "kind": kind, **({"customer_class": cls} if cls else {})}
    response = await client.post("/api/work-orders", json=body, headers=auth(tokens["agent"]))
    assert response.status == 201
    [d] = (await response.json())["deadlines"]
    assert (d["name"], d["target_at"], d["provisional"]) == (name, None, False)
    assert datetime.fromisoformat(d["due_at"]) == due
    listed = await (
        await client.get(f"/api/work-orders?kind={kind}", headers=auth(tokens["agent"]))
    ).json()
    assert len(listed["orders"]) == 1


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({**REPAIR, "kind": "connection"}, "a connection order needs customer_class"),
        ({**REPAIR, "kind": "connection", "customer_class": "commercial"}, "customer_class"),
        ({**REPAIR, "kind": "meter_test", "customer_class": "residential"}, "connections only"),
        ({**REPAIR, "kind": "meter_reading", "customer_class": "low_voltage"}, "connections only"),
    ],
)
async def test_new_kinds_refuse_a_missing_or_wrong_class(env, body, needle) -> None:  # type: ignore[no-untyped-def]
    client, tokens, _, engine = env
    response = await client.post("/api/work-orders", json=body, headers=auth(tokens["integration"]))
    assert response.status == 422
    assert needle in await response.text()
    async with engine.connect() as conn:  # nothing half-created
        assert (
            await conn.execute(select(func.count()).select_from(orders_table))
        ).scalar_one() == 0


async def test_only_an_acceptance_dispatches_a_repair(env) -> None:  # type: ignore[no-untyped-def]
    """The 5-minute dispatch limit is met by a crew's 接令 (or an acceptance a supervisor
    records with its reason), never by someone moving the order on or closing it."""
    client, tokens, clock, _ = env
    agent = auth(tokens["agent"])
    order = await (await client.post("/api/work-orders", json=REPAIR, headers=agent)).json()
    url = f"/api/work-orders/{order['order_no']}"
    for status in ("dispatched", "in_progress"):
        moved = await client.patch(url, json={"status": status}, headers=agent)
        assert moved.status == 409, status
        assert "dispatched by a crew's 接令" in (await moved.json())["error"]
    # an agent (or integration) may not record an acceptance; a reason is required
    refused = await client.post(
        url + "/dispatch-acceptance", json={"reason": "x" * 5}, headers=agent
    )
    assert refused.status == 403
    sup = auth(tokens["supervisor"])
    no_reason = await client.post(url + "/dispatch-acceptance", json={}, headers=sup)
    assert no_reason.status == 422
    no_crew = await client.post(
        url + "/dispatch-acceptance", json={"reason": "电台接令", "crew_id": 999}, headers=sup
    )
    assert no_crew.status == 422 and "no crew 999" in (await no_crew.json())["error"]
    # closing it undispatched (the customer's own fuse) stops the crew calls but meets nothing
    clock.now += timedelta(minutes=2)
    closed = await client.post(url + "/close", json={"result": "客户自行恢复"}, headers=agent)
    assert closed.status == 200
    dispatch = next(d for d in (await closed.json())["deadlines"] if d["name"] == "dispatch")
    assert dispatch["met_at"] is None
    late = await client.post(url + "/dispatch-acceptance", json={"reason": "补录接令"}, headers=sup)
    assert late.status == 409 and "already closed" in (await late.json())["error"]
    # and nobody marks its 回访 done by hand
    skip = await client.patch(url, json={"status": "callback_done"}, headers=agent)
    assert skip.status == 409 and "recorded by the 回访" in (await skip.json())["error"]


async def test_a_recorded_acceptance_is_in_the_history_with_its_reason(env) -> None:  # type: ignore[no-untyped-def]
    client, tokens, clock, _ = env
    order = await (
        await client.post("/api/work-orders", json=REPAIR, headers=auth(tokens["agent"]))
    ).json()
    url = f"/api/work-orders/{order['order_no']}"
    clock.now += timedelta(minutes=3)
    sup = auth(tokens["supervisor"])
    ok = await client.post(
        url + "/dispatch-acceptance", json={"reason": "一班电台接令"}, headers=sup
    )
    view = await ok.json()
    assert view["status"] == "dispatched"
    dispatch = next(d for d in view["deadlines"] if d["name"] == "dispatch")
    assert dispatch["met_at"] == clock.now.isoformat()
    last = view["history"][-1]
    assert (last["to"], last["actor"]) == ("dispatched", "supervisor:sup")
    assert last["note"] == "接令 recorded: 一班电台接令"
    again = await client.post(url + "/dispatch-acceptance", json={"reason": "再次"}, headers=sup)
    assert again.status == 409
