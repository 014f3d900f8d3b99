"""The only bridge (`ivr run`, dialer and callback conversations in one process) is killed with
SIGKILL while callbacks ring and talk, and started again.

Every due callback must still be completed exactly once: no customer is called twice for the
same attempt (one ring and one ``OriginateResponse`` per attempt, on AMI), none is forgotten
(every task done, every attempt finished), and the attempts in flight at the kill are finished
by the restarted bridge through their leases (a conversation cut by the kill counts as failed
and is called again as the next attempt, by policy).
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from ivr.app import callback_policy
from ivr.calendar_cn import china_is_workday
from ivr.config import CallbackSettings
from ivr.db.engine import create_engine
from ivr.db.workorder_models import attempts_table, orders_table, tasks_table
from ivr.db.workorders import NewOrder, SqlWorkOrders
from ivr.domain.phone import PhoneNumber
from ivr.domain.workorders import OrderKind
from ivr.flows.inbound import utc_now
from ivr_sandbox.simulation import SimulatedCustomer, set_up_customer
from tests.integration.test_cli import free_port
from tests.integration.test_dialer_two_bridges import bridge_env, start_bridge

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

AGI_PORT = 4576  # this bridge serves its own conversations
NUMBERS = [f"1399120{n:04d}" for n in range(1, 7)]


async def test_kill_9_the_only_bridge_mid_run_every_callback_once(
    postgres_url: str, sandbox, ami, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    client, events = ami
    for number in NUMBERS:
        await set_up_customer(client, SimulatedCustomer(number, keys="1wwww1wwww1wwww2", hold_s=20))
    port = free_port()
    env = bridge_env(postgres_url, sandbox, port) | {
        "IVR_AGI__PORT": str(AGI_PORT),
        "IVR_CALLBACK__AGI_URL": f"agi://127.0.0.1:{AGI_PORT}",
        "IVR_CALLBACK__MAX_CONCURRENT": "3",
        "IVR_CALLBACK__MAX_CALL_S": "30",
        "IVR_CALLBACK__MAX_ATTEMPTS": "3",
        "IVR_CALLBACK__RETRY_SPACING_S": "[2]",
    }
    bridge = await start_bridge(env, port, tmp_path / "before.log")  # migrates the database
    engine = create_engine(postgres_url)
    policy = callback_policy(CallbackSettings(window_start="00:00", window_end="24:00"))
    orders = SqlWorkOrders(engine, china_is_workday, policy, utc_now)
    restarted = None
    try:
        start = len(events.events)
        for number in NUMBERS:
            new = NewOrder(
                OrderKind.REPAIR, None, "1024", "李", "先生", PhoneNumber(number), "停电"
            )
            view, _ = await orders.create(new, "test", None)
            await orders.close(view.order_no, "已修复", "test", None)

        # kill it while a conversation runs and another call is in flight
        live: list[tuple[str, str]] = []
        deadline = time.monotonic() + 60
        while not (("answered" in {s for _, s in live}) and len(live) >= 2):
            assert time.monotonic() < deadline, f"never two live callbacks: {live}"
            await asyncio.sleep(0.2)
            async with engine.connect() as conn:
                live = [
                    (r.action_id, r.state)
                    for r in await conn.execute(
                        select(attempts_table.c.action_id, attempts_table.c.state).where(
                            attempts_table.c.state.in_(("originating", "answered"))
                        )
                    )
                ]
        bridge.send_signal(signal.SIGKILL)
        await bridge.wait()
        restarted = await start_bridge(env, port, tmp_path / "after.log")

        deadline = time.monotonic() + 240
        while True:
            async with engine.connect() as conn:
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
            assert time.monotonic() < deadline, Counter((t.state, t.result) for t in tasks)
            assert restarted.returncode is None, "the restarted bridge died"
            await asyncio.sleep(1)
    finally:
        for process in (bridge, restarted):
            if process is not None and process.returncode is None:
                process.send_signal(signal.SIGTERM)
                await asyncio.wait_for(process.wait(), 30)
        await engine.dispose()

    # none forgotten: every task completed, by exactly one completed attempt
    assert all(t.result == "completed" for t in tasks)
    completed = Counter(a.task_id for a in attempts if a.result == "completed")
    assert completed == {t.id: 1 for t in tasks}
    # attempts numbered 1..n per task, every one with a result
    by_task: dict[int, list[int]] = {}
    for a in attempts:
        by_task.setdefault(a.task_id, []).append(a.attempt_no)
        assert a.result is not None
    assert all(sorted(n) == list(range(1, len(n) + 1)) for n in by_task.values())
    # the attempts in flight at the kill were finished through their leases
    in_flight = {a.action_id: a for a in attempts if a.action_id in dict(live)}
    assert len(in_flight) == len(live) and all(a.result for a in in_flight.values())
    # Asterisk: one originate result per attempt, and each customer rang once per attempt
    seen = events.events[start:]
    originated = Counter(e.get("ActionID") for e in seen if e.get("Event") == "OriginateResponse")
    assert all(originated[a.action_id] == 1 for a in attempts), originated
    rang = Counter(
        e["Number"]
        for e in seen
        if e.get("UserEvent") == "SimCustomerRinging" and e["Number"] in NUMBERS
    )
    per_number = Counter(phone_of[a.task_id] for a in attempts)
    assert rang == per_number
