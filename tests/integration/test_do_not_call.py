"""The do-not-call list (勿扰) on the bridge's real web app, SQLite and PostgreSQL: only a
supervisor changes it, with the customer's request recorded; a number on it gets no 回访 (a
waiting one is cancelled, a later one created cancelled, the dialer checks again at its claim);
an order's owner can neither mark it do-not-call nor skip its 回访 by moving its status."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select, update

from ivr.db.workorder_models import do_not_call_table, orders_table, tasks_table
from ivr.domain.access import Role
from ivr.flows.inbound import utc_now
from tests.integration.api_app import Api, api_app

PHONE = "13800138000"
REPAIR = {
    "kind": "repair",
    "customer": {"surname": "王", "title": "先生", "phone": PHONE},
    "summary": "整栋楼停电",
}
REQUEST = "客户2026-03-02来电要求今后不要回访（工单办结后致电即可免）"


@pytest.fixture
async def api(db_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    async with api_app(tmp_path, db_url) as found:
        yield found


async def call(api: Api, role: Role, method: str, url: str, body: Any = None) -> tuple[int, Any]:
    response = await api.client.request(method, url, json=body, headers=api.auth(role))
    return response.status, await response.json()


async def closed_repair(api: Api) -> dict[str, Any]:
    """A repair order recorded and closed by its agent (the crew's 接令 recorded first)."""
    status, order = await call(api, Role.AGENT, "POST", "/api/work-orders", REPAIR)
    assert status == 201, order
    url = f"/api/work-orders/{order['order_no']}"
    accepted = await call(
        api, Role.SUPERVISOR, "POST", url + "/dispatch-acceptance", {"reason": "电台接令"}
    )
    assert accepted[0] == 200, accepted
    status, order = await call(api, Role.AGENT, "POST", url + "/close", {"result": "已修复"})
    assert status == 200, order
    return order


async def task_state(api: Api, order_no: str) -> tuple[str, str | None]:
    async with api.bridge.engine.connect() as conn:
        row = (
            await conn.execute(
                select(tasks_table.c.state, tasks_table.c.outcome)
                .join(orders_table, orders_table.c.id == tasks_table.c.order_id)
                .where(orders_table.c.order_no == order_no)
            )
        ).one()
    return row.state, row.outcome


@pytest.mark.parametrize("role", [Role.AGENT, Role.INTEGRATION])
async def test_only_a_supervisor_changes_or_reads_the_list(api: Api, role: Role) -> None:
    body = {"phone": PHONE, "request": REQUEST, "reason": "x" * 3}
    for method in ("GET", "POST", "DELETE"):
        status, _ = await call(
            api, role, method, "/api/do-not-call", None if method == "GET" else body
        )
        assert status == 403, method
    assert (await call(api, Role.SUPERVISOR, "GET", "/api/do-not-call"))[1] == {"entries": []}


async def test_a_number_joins_with_the_customers_request_once(api: Api) -> None:
    order = await closed_repair(api)
    body = {"phone": PHONE, "request": REQUEST, "order_no": order["order_no"]}
    status, entry = await call(api, Role.SUPERVISOR, "POST", "/api/do-not-call", body)
    assert status == 201, entry
    assert entry["phone"] == "138******00"  # masked, even to the supervisor who typed it
    assert (entry["request"], entry["order_no"], entry["current"]) == (
        REQUEST,
        order["order_no"],
        True,
    )
    assert entry["added_by"] == "supervisor:t-supervisor" and entry["cancelled_callbacks"] == 1
    again = {**body, "request": "另一次的说法"}
    status, same = await call(api, Role.SUPERVISOR, "POST", "/api/do-not-call", again)
    assert status == 200 and same["request"] == REQUEST  # the first request stands
    listed = (await call(api, Role.SUPERVISOR, "GET", "/api/do-not-call"))[1]["entries"]
    assert [e["phone"] for e in listed] == ["138******00"]


async def test_adding_a_number_cancels_its_waiting_callback(api: Api) -> None:
    order = await closed_repair(api)
    assert await task_state(api, order["order_no"]) == ("pending", None)
    await call(
        api, Role.SUPERVISOR, "POST", "/api/do-not-call", {"phone": PHONE, "request": REQUEST}
    )
    assert await task_state(api, order["order_no"]) == ("cancelled", "do_not_call")
    status, view = await call(api, Role.AGENT, "GET", f"/api/work-orders/{order['order_no']}")
    assert status == 200 and view["do_not_call"] is True
    assert view["callback"]["outcome"] == "do_not_call"
    # nothing is owed: the order may be archived
    archived = await call(
        api, Role.AGENT, "PATCH", f"/api/work-orders/{order['order_no']}", {"status": "archived"}
    )
    assert archived[0] == 200, archived


async def test_a_listed_number_gets_no_callback_on_a_later_order(api: Api) -> None:
    await call(
        api, Role.SUPERVISOR, "POST", "/api/do-not-call", {"phone": PHONE, "request": REQUEST}
    )
    order = await closed_repair(api)
    assert order["callback"]["state"] == "cancelled"
    assert await task_state(api, order["order_no"]) == ("cancelled", "do_not_call")


async def test_the_dialer_checks_the_list_when_it_claims(api: Api) -> None:
    order = await closed_repair(api)
    async with api.bridge.engine.begin() as conn:  # listed behind the API's back (another tool)
        await conn.execute(
            insert(do_not_call_table).values(
                phone=PHONE, request=REQUEST, added_by="supervisor:x", added_at=utc_now()
            )
        )
        await conn.execute(update(tasks_table).values(next_attempt_at=utc_now()))
    assert await api.bridge.callbacks.claim("bridge-a", 4, 0.0, 30, 4) == []
    assert await task_state(api, order["order_no"]) == ("cancelled", "do_not_call")


async def test_a_removed_number_is_called_back_again_and_the_removal_is_kept(api: Api) -> None:
    add = {"phone": PHONE, "request": REQUEST}
    await call(api, Role.SUPERVISOR, "POST", "/api/do-not-call", add)
    remove = {"phone": PHONE, "reason": "客户再次来电，同意回访"}
    status, entry = await call(api, Role.SUPERVISOR, "DELETE", "/api/do-not-call", remove)
    assert status == 200 and entry["current"] is False
    assert entry["removed_by"] == "supervisor:t-supervisor"
    assert entry["removal_reason"] == remove["reason"]
    assert (await call(api, Role.SUPERVISOR, "DELETE", "/api/do-not-call", remove))[0] == 404
    removed = (await call(api, Role.SUPERVISOR, "GET", "/api/do-not-call?state=removed"))[1]
    assert [e["removal_reason"] for e in removed["entries"]] == [remove["reason"]]
    order = await closed_repair(api)
    assert await task_state(api, order["order_no"]) == ("pending", None)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"phone": "12345", "request": REQUEST}, "phone"),
        ({"phone": PHONE}, "invalid input"),
        ({"phone": PHONE, "request": "要求\x1b[2J"}, "invalid input"),
        ({"phone": PHONE, "request": REQUEST, "order_no": "0" * 20}, "no such work order"),
        ({"phone": PHONE, "request": REQUEST, "extra": 1}, "invalid input"),
    ],
)
async def test_bad_input_is_refused_and_nothing_is_stored(
    api: Api, body: dict[str, Any], needle: str
) -> None:
    status, error = await call(api, Role.SUPERVISOR, "POST", "/api/do-not-call", body)
    assert status == 422 and needle in str(error)
    assert (await call(api, Role.SUPERVISOR, "GET", "/api/do-not-call?state=all"))[1] == {
        "entries": []
    }


async def test_the_owner_cannot_spare_an_order_its_callback(api: Api) -> None:
    order = await closed_repair(api)
    url = f"/api/work-orders/{order['order_no']}"
    status, error = await call(api, Role.AGENT, "PATCH", url, {"do_not_call": True})
    assert status == 403 and "/api/do-not-call" in error["error"]
    status, error = await call(api, Role.AGENT, "PATCH", url, {"status": "callback_done"})
    assert status == 409 and "recorded by the 回访" in error["error"]
    status, error = await call(api, Role.AGENT, "PATCH", url, {"status": "archived"})
    assert status == 409 and "still owes its callback" in error["error"]
    assert await task_state(api, order["order_no"]) == ("pending", None)
