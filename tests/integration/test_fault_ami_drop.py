"""The AMI link drops while callbacks are in flight and a caller joins a queue unseen.

``test_resync.py`` covers one outage for queue calls (a waiting caller followed across it, one
who hung up unseen closed as lost). This adds what that does not: callback calls ringing and
talking during an 8 s outage, whose ``OriginateResponse`` and ``Hangup`` events are missed —
each must still be placed once and finished (the conversation marks its attempt answered, the
reconnect reconciles legs that ended unseen), and no new call may be claimed while the bridge
cannot place it (that would burn the customer's attempts on refused originates). A queue caller
who joined during the outage is recovered by the resync from ``QueueStatus``.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from ivr.app import Bridge
from ivr.db.workorder_models import attempts_table, orders_table, tasks_table
from ivr.db.workorders import NewOrder
from ivr.domain.phone import PhoneNumber
from ivr.domain.queue_calls import VisitOutcome
from ivr.domain.workorders import OrderKind
from ivr_sandbox.simulation import (
    SimulatedCaller,
    SimulatedCustomer,
    log_in_agent,
    log_out_agent,
    place_queue_call,
    set_up_customer,
)
from tests.integration.asterisk_fixtures import dialer_settings, running_bridge
from tests.integration.test_answer_times import finished_visits

pytestmark = pytest.mark.integration

AGI_PORT = 4577
NUMBERS = [f"1399130{n:04d}" for n in range(1, 7)]
UNSEEN_CALLER = "13500000311"
OUTAGE_S = 14  # longer than an AMI action's 10 s timeout: an originate sent now fails


@pytest.fixture
async def dialing_bridge(sandbox, tmp_path: Path) -> AsyncIterator[Bridge]:  # type: ignore[no-untyped-def]
    settings = dialer_settings(
        sandbox,
        f"sqlite+aiosqlite:///{tmp_path / 'cb.db'}",
        AGI_PORT,
        max_concurrent=3,
        rate_per_s=0.5,  # one call every 2 s: more are due, and would be placed, meanwhile
        retry_spacing_s=[2.0],  # a wrongly failed attempt shows as a second one at once
    )
    async with running_bridge(settings) as bridge:
        yield bridge


async def test_callbacks_in_flight_survive_an_ami_outage_once_each(
    dialing_bridge: Bridge, bridge, ami
) -> None:  # type: ignore[no-untyped-def]
    client, events = ami
    cb = dialing_bridge
    assert cb.ami is not None
    for number in NUMBERS:
        # a pause before the keys keeps the conversation going through the outage
        await set_up_customer(
            client, SimulatedCustomer(number, keys="1wwww1wwww1wwww2", pause_s=4, hold_s=6)
        )
    never = await log_in_agent(client, "2311", ["q-t-7"], answer_after_s="never")
    start = len(events.events)
    try:
        for number in NUMBERS:
            new = NewOrder(
                OrderKind.REPAIR, None, "1024", "李", "先生", PhoneNumber(number), "停电"
            )
            view, _ = await cb.work_orders.create(new, "test", None)
            await cb.work_orders.close(view.order_no, "已修复", "test", None)

        # drop the dialing bridge's link as soon as its first two calls are up
        deadline = time.monotonic() + 60
        while True:
            async with cb.engine.connect() as conn:
                live = (
                    await conn.execute(
                        select(attempts_table.c.action_id).where(
                            attempts_table.c.state.in_(("originating", "answered"))
                        )
                    )
                ).all()
            if len(live) >= 2:
                break
            assert time.monotonic() < deadline, "the dialer never had two calls up"
            await asyncio.sleep(0.1)
        # the outage as the dialer sees it: from the bridge noticing the loss to its next
        # login (stamped in the client's own callbacks, not when this test polls for them)
        link: dict[str, datetime] = {}
        cb.ami.on_disconnect(lambda: link.setdefault("down", datetime.now(UTC)))
        cb.ami.on_login(lambda: link.setdefault("up", datetime.now(UTC)))
        cb.ami.drop_connection(reconnect_after_s=OUTAGE_S)
        assert bridge.ami is not None
        bridge.ami.drop_connection(reconnect_after_s=OUTAGE_S)  # the tracker's bridge too
        await asyncio.sleep(1)
        # a caller joins a queue while nobody is watching, and is still there after
        await place_queue_call(
            client, SimulatedCaller(UNSEEN_CALLER, pause_s=0, hold_s=20), "q-t-7"
        )
        deadline = time.monotonic() + 30
        while not cb.ami.logged_in:
            assert time.monotonic() < deadline, "no reconnect"
            await asyncio.sleep(0.05)
        while not (bridge.link is not None and bridge.link.resynced.is_set()):
            assert time.monotonic() < deadline, "no resync"
            await asyncio.sleep(0.2)
        assert UNSEEN_CALLER in {v.caller_number for v in bridge.tracking.waiting()}

        deadline = time.monotonic() + 180
        while True:
            async with cb.engine.connect() as conn:
                tasks = (await conn.execute(select(tasks_table))).all()
                attempts = (await conn.execute(select(attempts_table))).all()
                phone_of = dict(
                    (
                        await conn.execute(
                            select(tasks_table.c.id, orders_table.c.customer_phone).join(
                                orders_table, orders_table.c.id == tasks_table.c.order_id
                            )
                        )
                    ).all()
                )
            if (
                len(tasks) == len(NUMBERS)
                and all(t.state == "done" for t in tasks)
                and all(a.state == "finished" for a in attempts)
            ):
                break
            assert time.monotonic() < deadline, [(a.state, a.result) for a in attempts]
            await asyncio.sleep(1)
        unseen = (await finished_visits(bridge, {UNSEEN_CALLER}, 40))[UNSEEN_CALLER]
    finally:
        await log_out_agent(client, never, ["q-t-7"])

    # every callback placed once and completed; nothing claimed while the link was down
    assert Counter(a.task_id for a in attempts) == {t.id: 1 for t in tasks}
    assert {a.result for a in attempts} == {"completed"}
    down_at, up_at = link["down"], link["up"]
    assert not [a for a in attempts if down_at < a.claimed_at.replace(tzinfo=UTC) < up_at]
    seen = events.events[start:]
    rang = Counter(
        e["Number"]
        for e in seen
        if e.get("UserEvent") == "SimCustomerRinging" and e["Number"] in NUMBERS
    )
    assert rang == Counter(phone_of[a.task_id] for a in attempts) == dict.fromkeys(NUMBERS, 1)
    # the caller who joined during the outage was adopted by the resync and followed to the end
    assert unseen.outcome is VisitOutcome.ABANDONED
    assert unseen.note is not None and "QueueStatus" in unseen.note
