"""Closing an outage closes its linked repair orders, and the 回访 dialer rings each customer
once, however many orders they made: real calls through the sandboxed Asterisk to simulated
customers ([sim-customers]), counted on AMI (each ring of a customer is a UserEvent)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ivr.app import Bridge
from ivr.domain.outages import Customer, OutageKind
from ivr.domain.phone import PhoneNumber
from ivr.domain.workorders import NewOrder, OrderKind
from ivr_sandbox.simulation import SimulatedCustomer, set_up_customer
from tests.integration.asterisk_fixtures import dialer_settings, running_bridge
from tests.integration.test_callbacks import rung, wait_until_settled

pytestmark = pytest.mark.integration

AGI_PORT = 4585  # this module's bridge; 4573-4582 are the session's and other tests'
AREA = "回访测试小区"
TWICE, ONCE = "13990000211", "13990000212"  # one customer made two orders, the other one


@pytest.fixture(scope="module")
async def dialing_bridge(sandbox, ami, tmp_path_factory) -> AsyncIterator[Bridge]:  # type: ignore[no-untyped-def]
    db = Path(tmp_path_factory.mktemp("outage-callbacks")) / "ivr.db"
    settings = dialer_settings(
        sandbox,
        f"sqlite+aiosqlite:///{db}",
        AGI_PORT,
        max_concurrent=2,
        rate_per_s=1.0,
        ring_timeout_s=6,
        max_attempts=1,
    )
    async with running_bridge(settings) as bridge:
        yield bridge


async def test_closing_the_outage_calls_each_linked_customer_back_once(dialing_bridge, ami) -> None:  # type: ignore[no-untyped-def]
    bridge: Bridge = dialing_bridge
    client, log = ami
    for number in (TWICE, ONCE):
        await set_up_customer(client, SimulatedCustomer(number, keys="1wwww1wwww1wwww2"))
    await bridge.customers.upsert(
        [
            Customer("3000000101", "甲", (TWICE,), "回访路1号", AREA),
            Customer("3000000102", "乙", (ONCE,), "回访路2号", AREA),
        ]
    )
    now = datetime.now(UTC)
    outage = await bridge.outages.declare(
        OutageKind.FAULT, [AREA], [], now - timedelta(minutes=5), now + timedelta(hours=2),
        "线路故障", "test",
    )  # fmt: skip
    orders = []
    for number in (TWICE, TWICE, ONCE):
        new = NewOrder(
            OrderKind.REPAIR, None, "1024", "王", "女士", PhoneNumber(number), "停电"
        )  # fmt: skip
        view, _ = await bridge.work_orders.create(new, "test", None)
        orders.append(view.order_no)
    _, closed, owed = await bridge.outages.close(outage.id, "线路已修复", "test")
    assert (closed, owed) == (3, 2)
    first, again, other = orders
    views = await wait_until_settled(bridge, {"first": first, "other": other}, timeout_s=180)
    for view in views.values():
        assert view.callback is not None and view.callback["state"] == "done"
        assert [a["result"] for a in view.callback["attempts"]] == ["completed"]
    second = await bridge.work_orders.get(again)
    assert second.status == "closed" and second.callback is None  # owed by the first order
    assert rung(log, TWICE) == 1 and rung(log, ONCE) == 1
