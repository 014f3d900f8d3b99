"""The customer and outage registers through the bridge's real web app, on SQLite and
PostgreSQL: roles and masking, an outage's life and history, and one outage, one dispatch
(repair orders from its area linked to it, dispatched by its one crew dispatch, closed with it,
one 回访 per customer). The callers informed appear on /metrics, the dashboard and the report."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from ivr.db.dispatch_models import jobs_table as jobs
from ivr.db.workorder_models import orders_table as orders
from ivr.db.workorder_models import tasks_table as tasks
from ivr.domain.access import Role
from ivr.domain.calls import CallOutcome, CallRecord
from ivr.domain.phone import PhoneNumber
from ivr.domain.workorders import NewOrder, OrderKind
from tests.integration.api_app import Api, api_app

AREA = "幸福小区"
P1, P2, P3 = "13800000001", "13800000002", "13900000003"


@pytest.fixture
async def api(tmp_path: Path, db_url: str) -> AsyncIterator[Api]:
    async with api_app(tmp_path, db_url) as api:
        yield api


async def call(api: Api, method: str, url: str, role: Role, body: object = None):  # type: ignore[no-untyped-def]
    response = await api.client.request(method, url, json=body, headers=api.auth(role))
    data = await response.json() if response.content_type == "application/json" else None
    return response.status, data


CUSTOMER = {"name": "王芳", "phones": [P1], "address": "幸福路1号", "area": AREA}


def window(hours: float = 3) -> dict[str, str]:
    now = datetime.now(UTC)
    return {
        "starts_at": (now - timedelta(minutes=10)).isoformat(),
        "expected_at": (now + timedelta(hours=hours)).isoformat(),
    }


async def test_customers_are_shown_to_who_answers_them_and_masked_elsewhere(api: Api) -> None:
    status, _ = await call(api, "PUT", "/api/customers/1000000001", Role.AGENT, CUSTOMER)
    assert status == 403
    status, body = await call(api, "PUT", "/api/customers/1000000001", Role.INTEGRATION, CUSTOMER)
    assert status == 200 and body["phones"] == ["138******01"]  # integration reads masked
    status, body = await call(api, "GET", "/api/customers/1000000001", Role.AGENT)
    assert status == 200 and body["name"] == "王芳" and body["phones"] == [P1]
    status, body = await call(api, "GET", "/api/customers/1000000001", Role.INTEGRATION)
    assert body["name"] == "王*" and body["address"].startswith("幸福路1")
    assert "幸福路1号" not in str(body)
    status, body = await call(api, "GET", f"/api/customers?phone={P1}", Role.AGENT)
    assert [c["account_no"] for c in body["customers"]] == ["1000000001"]
    for role in (Role.INTEGRATION, Role.SUPERVISOR):
        status, _ = await call(api, "GET", f"/api/customers?phone={P1}", role)
        assert status == 403
    for role in (Role.SUPERVISOR, Role.AGENT):  # a page of the register: masked for all
        status, body = await call(api, "GET", "/api/customers?area=" + AREA, role)
        assert [c["name"] for c in body["customers"]] == ["王*"]
    for bad in ({**CUSTOMER, "phones": ["12345"]}, {**CUSTOMER, "area": "a,b"}, {"name": "x"}):
        status, _ = await call(api, "PUT", "/api/customers/1000000002", Role.SUPERVISOR, bad)
        assert status == 422
    status, _ = await call(api, "GET", "/api/customers/12", Role.AGENT)
    assert status == 404
    status, _ = await call(api, "DELETE", "/api/customers/1000000001", Role.INTEGRATION)
    assert status == 403
    status, _ = await call(api, "DELETE", "/api/customers/1000000001", Role.SUPERVISOR)
    assert status == 204


async def test_an_outage_is_declared_changed_closed_and_its_history_kept(api: Api) -> None:
    body = {"kind": "planned", "areas": [AREA], "cause": "计划检修", **window()}
    status, _ = await call(api, "POST", "/api/outages", Role.AGENT, body)
    assert status == 403  # agents declare fault outages only
    status, created = await call(api, "POST", "/api/outages", Role.AGENT, {**body, "kind": "fault"})
    assert status == 201 and created["state"] == "open" and created["callers_informed"] == 0
    url = f"/api/outages/{created['id']}"
    backwards = {"expected_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat()}
    status, _ = await call(api, "PATCH", url, Role.SUPERVISOR, backwards)
    assert status == 422
    later = (datetime.now(UTC) + timedelta(hours=6)).isoformat()
    status, changed = await call(api, "PATCH", url, Role.SUPERVISOR, {"expected_at": later})
    assert status == 200 and changed["expected_at"] != created["expected_at"]
    status, _ = await call(api, "PATCH", url, Role.AGENT, {"cause": "x"})
    assert status == 403
    status, closed = await call(
        api, "POST", url + "/close", Role.SUPERVISOR, {"resolution": "已修复"}
    )
    assert status == 200 and closed["state"] == "closed" and closed["resolution"] == "已修复"
    status, _ = await call(api, "POST", url + "/close", Role.SUPERVISOR, {"resolution": "again"})
    assert status == 409
    status, _ = await call(api, "PATCH", url, Role.SUPERVISOR, {"cause": "x"})
    assert status == 409
    status, history = await call(api, "GET", url + "/history", Role.INTEGRATION)
    assert [h["change"] for h in history["history"]] == ["created", "updated", "closed"]
    assert history["history"][1]["detail"]["after"]["expected_at"]
    status, listed = await call(api, "GET", "/api/outages?state=closed", Role.AGENT)
    assert [o["id"] for o in listed["outages"]] == [created["id"]]
    status, _ = await call(api, "GET", "/api/outages/99999", Role.AGENT)
    assert status == 404
    status, _ = await call(api, "POST", "/api/outages", Role.SUPERVISOR, {**body, "areas": []})
    assert status == 422


async def repair(api: Api, phone: str) -> str:
    new = NewOrder(
        OrderKind.REPAIR, None, "1024", "王", "女士", PhoneNumber(phone), "停电", address="幸福路"
    )
    view, _ = await api.bridge.work_orders.create(new, "test", uuid.uuid4().hex)
    return view.order_no


async def rows(api: Api, query):  # type: ignore[no-untyped-def]
    async with api.bridge.engine.connect() as conn:
        return (await conn.execute(query)).all()


async def test_one_outage_one_dispatch_and_one_callback_per_customer(api: Api) -> None:
    for account, phone, area in (("1000000001", P1, AREA), ("1000000002", P2, AREA),
                                 ("1000000003", P3, "别处")):  # fmt: skip
        customer = {**CUSTOMER, "phones": [phone], "area": area}
        await call(api, "PUT", f"/api/customers/{account}", Role.SUPERVISOR, customer)
    body = {"kind": "fault", "areas": [AREA], "cause": "线路故障", **window()}
    _, outage = await call(api, "POST", "/api/outages", Role.AGENT, body)
    first, again, neighbour, outside = [await repair(api, p) for p in (P1, P1, P2, P3)]
    await api.bridge.dispatch.claim("bridge-1", 15, 10)  # opens the jobs of new repair orders
    numbers = {r.id: r.order_no for r in await rows(api, select(orders.c.id, orders.c.order_no))}
    dispatched = {numbers[r.order_id] for r in await rows(api, select(jobs.c.order_id))}
    assert dispatched == {first, outside}  # the outage's one dispatch, and the unrelated order
    url = f"/api/outages/{outage['id']}"
    _, detail = await call(api, "GET", url, Role.SUPERVISOR)
    assert [(o["order_no"], o["dispatch"]) for o in detail["orders"]] == [
        (first, True), (again, False), (neighbour, False)
    ]  # fmt: skip
    await api.bridge.dispatch.record_acceptance(first, "supervisor:test", "crew by radio", None)
    for order_no in (again, neighbour):
        status = (await api.bridge.work_orders.get(order_no)).status
        assert status == "dispatched"  # by the outage's crew, limit met
    status, closed = await call(
        api, "POST", url + "/close", Role.SUPERVISOR, {"resolution": "线路已修复"}
    )
    assert status == 200 and closed["orders_closed"] == 3 and closed["callbacks_scheduled"] == 2
    for order_no in (first, again, neighbour):
        view = await api.bridge.work_orders.get(order_no)
        assert view.status == "closed" and view.result == "线路已修复"
    assert (await api.bridge.work_orders.get(outside)).status == "created"
    owed = [numbers[r.order_id] for r in await rows(api, select(tasks.c.order_id))]
    assert sorted(owed) == sorted([first, neighbour])  # one 回访 per customer


async def test_callers_informed_on_metrics_dashboard_and_report(api: Api) -> None:
    _, outage = await call(
        api, "POST", "/api/outages", Role.SUPERVISOR,
        {"kind": "fault", "areas": [AREA], "cause": "线路故障", **window()},
    )  # fmt: skip
    now = datetime.now(UTC)
    for n, informed in enumerate((True, True, False)):
        record = CallRecord(
            uuid.uuid4().hex, f"1.{n}", P1, "95598", "Local/x", now,
            outcome=CallOutcome.ABANDONED_IN_MENU, ended_at=now,
            outage_id=outage["id"], informed=informed,
        )  # fmt: skip
        await api.bridge.repository.add(record)
    _, listed = await call(api, "GET", "/api/outages", Role.AGENT)
    assert listed["outages"][0]["callers_informed"] == 2
    _, dashboard = await call(api, "GET", "/api/dashboard", Role.SUPERVISOR)
    assert dashboard["today"]["callers_informed"] == 2
    response = await api.client.get("/metrics", headers=api.auth(Role.SUPERVISOR))
    assert "ivr_outage_callers_informed_total 2.0" in await response.text()
    month = now.astimezone(api.bridge.reports.zone).strftime("%Y-%m")
    _, report = await call(api, "GET", f"/api/reports/monthly?month={month}", Role.SUPERVISOR)
    assert report["centre"]["callers_informed"] == 2
