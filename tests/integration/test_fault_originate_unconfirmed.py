"""Asterisk takes an Originate but its answer never reaches the bridge: the customer is called
once, and the conversation's result is kept.

Between sending ``Originate`` and reading Asterisk's "successfully queued" the link can fail
two ways (``tests/integration/ami_proxy.py`` does both to a real Asterisk):

- ``cut``: the link drops. panoramisk by itself queues every unanswered action and sends it
  again after the reconnect: a second Originate, the customer's phone rings twice.
- ``stall``: the answer comes after the action's 10 s timeout. Counting that as a failed
  attempt schedules a second call while the first is ringing, and throws away what the
  customer then says in it (the attempt already has its result).

In both the call *was* placed; the bridge must wait for ``OriginateResponse``, the
conversation or the attempt's lease, and never dial again on its own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from ivr.app import Bridge
from ivr.db.workorder_models import attempts_table, tasks_table
from ivr.db.workorders import NewOrder
from ivr.domain.phone import PhoneNumber
from ivr.domain.workorders import OrderKind
from ivr_sandbox.simulation import SimulatedCustomer, set_up_customer
from tests.integration.ami_proxy import OriginateFault
from tests.integration.asterisk_fixtures import dialer_settings

pytestmark = pytest.mark.integration

AGI_PORT = 4581
NUMBER = {"cut": "13991400001", "stall": "13991400002"}


@pytest.fixture(params=["cut", "stall"])
async def faulty_link(
    request, sandbox, tmp_path: Path
) -> AsyncIterator[tuple[Bridge, OriginateFault, str]]:  # type: ignore[no-untyped-def]
    mode: str = request.param
    fault = OriginateFault(mode, upstream=(sandbox.host, sandbox.port))
    port = await fault.start()
    settings = dialer_settings(
        sandbox,
        f"sqlite+aiosqlite:///{tmp_path / 'cb.db'}",
        AGI_PORT,
        ami_port=port,  # through the fault proxy
        max_concurrent=2,
        rate_per_s=1.0,
        retry_spacing_s=[2.0],  # a wrongly failed attempt shows as a second call at once
        max_attempts=3,
    )
    bridge = Bridge(settings)
    await bridge.start()
    yield bridge, fault, NUMBER[mode]
    await bridge.stop()
    await fault.close()


async def test_an_originate_whose_answer_is_lost_is_placed_once_and_its_result_kept(
    faulty_link: tuple[Bridge, OriginateFault, str], ami
) -> None:  # type: ignore[no-untyped-def]
    cb, fault, number = faulty_link
    client, events = ami
    await set_up_customer(
        client, SimulatedCustomer(number, keys="1wwww1wwww1wwww2", pause_s=2, hold_s=8)
    )
    start = len(events.events)
    new = NewOrder(OrderKind.REPAIR, None, "1024", "王", "女士", PhoneNumber(number), "停电")
    view, _ = await cb.work_orders.create(new, "test", None)
    await cb.work_orders.close(view.order_no, "已修复", "test", None)

    await asyncio.wait_for(fault.fired.wait(), 30)
    deadline = time.monotonic() + 120
    while True:
        async with cb.engine.connect() as conn:
            task = (await conn.execute(select(tasks_table))).one()
            attempts = (await conn.execute(select(attempts_table))).all()
        if task.state != "active" and all(a.state == "finished" for a in attempts):
            break
        assert time.monotonic() < deadline, [(a.state, a.result, a.detail) for a in attempts]
        await asyncio.sleep(0.5)
    await asyncio.sleep(3)  # a second call would be ringing by now

    rang = [
        e
        for e in events.events[start:]
        if e.get("UserEvent") == "SimCustomerRinging" and e.get("Number") == number
    ]
    assert len(rang) == 1, f"the customer was called {len(rang)} times"
    assert [(a.attempt_no, a.result) for a in attempts] == [(1, "completed")]
    assert task.state == "done" and task.satisfied is True
    if fault.mode == "cut":
        assert fault.connections >= 2  # the bridge did reconnect through the proxy
