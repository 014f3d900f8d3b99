"""The demo: a real Asterisk, the bridge on SQLite, simulated agents and callers, a report.

Everything runs for real: the sandbox Asterisk answers each simulated call, hands it to our
FastAGI server, plays our rendered prompts, takes the keys the simulated caller presses and
queues the call for a simulated agent; the table printed at the end is read back from the
database.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from ivr.app import Bridge
from ivr.asterisk.ami import AmiClient
from ivr.config import DEFAULT_STATE_DIR, AmiSettings, DispatchSettings, Settings
from ivr.domain.agents import Agent, greeting_text
from ivr.domain.calls import CallOutcome, CallRecord
from ivr.domain.phone import PhoneNumber
from ivr.domain.privacy import mask_number
from ivr.domain.workorders import NewOrder, OrderKind
from ivr_sandbox.asterisk import AmiEndpoint, AsteriskSandbox
from ivr_sandbox.simulation import (
    SimulatedCaller,
    SimulatedCrew,
    log_in_agent,
    log_out_agent,
    place_call,
    set_up_crew,
)

QUEUES = ["q-repair", "q-billing", "q-business", "q-complaint", "q-general"]

SCENARIOS = [
    SimulatedCaller("13800000001", keys="1ww1", hold_s=40),  # repair: no power at home
    SimulatedCaller("13800000002", keys="1ww3", hold_s=40),  # repair: wire down (priority)
    SimulatedCaller("13800000003", keys="2ww1", hold_s=40),  # billing: the bill
    SimulatedCaller("13800000004", keys="3ww1", hold_s=40),  # business: new connection
    SimulatedCaller("13800000005", keys="4ww2", hold_s=40),  # complaints: a report (举报)
    SimulatedCaller("13800000006", keys="0", hold_s=40),  # straight to a human
    SimulatedCaller("13800000007", keys="9ww2ww2", hold_s=40),  # a wrong key, then billing: tariffs
    SimulatedCaller("13800000008", keys="1", hold_s=3),  # hangs up in the repair menu
]


# The repair dispatch: the primary crew on duty does not answer, the backup accepts (presses 1).
CREWS = [SimulatedCrew("13900000101", mode="never"), SimulatedCrew("13900000102", keys="1")]


async def run_demo(settings: Settings, calls: int = len(SCENARIOS)) -> int:
    demo_db = DEFAULT_STATE_DIR / "demo.db"
    for suffix in ("", "-wal", "-shm"):
        demo_db.with_name(demo_db.name + suffix).unlink(missing_ok=True)
    settings = settings.model_copy(deep=True)
    settings.database.url = f"sqlite+aiosqlite:///{demo_db}"

    settings.dispatch = DispatchSettings(dispatcher=True, trunk_context="sim-crews")
    # the simulated agents take call after call (their wrap-up is the queues' own few seconds)
    settings.agents = settings.agents.model_copy(update={"wrapup_s": 0.0})

    print("1/5 Asterisk sandbox …", flush=True)
    sandbox = AsteriskSandbox.from_settings(settings)
    with sandbox.exclusive():  # before up(): it installs this checkout's configuration
        endpoint = await asyncio.to_thread(sandbox.up)
        return await _run_calls(settings, endpoint, calls)


async def _run_calls(settings: Settings, endpoint: AmiEndpoint, calls: int) -> int:
    print("2/5 bridge (FastAGI, SQLite, prompts, AMI call tracker, dispatcher) …", flush=True)
    settings.ami = AmiSettings(
        host=endpoint.host,
        port=endpoint.port,
        username=endpoint.username,
        secret=endpoint.secret,  # type: ignore[arg-type]
    )
    bridge = Bridge(settings)
    await bridge.start()
    for agent_id in ("1001", "1002", "1003"):  # job numbers, for the greeting on answer
        await bridge.agents.put(
            Agent(agent_id, f"agent {agent_id}", f"Local/{agent_id}@sim-agents/n", tuple(QUEUES))
        )
        await bridge.prompts.prompt_path(greeting_text(agent_id))
    ami = AmiClient(endpoint.host, endpoint.port, endpoint.username, endpoint.secret)
    agents: list[str] = []
    try:
        await ami.connect()
        for agent_id, delay in (("1001", 1.0), ("1002", 2.0), ("1003", 3.0)):
            agents.append(await log_in_agent(ami, agent_id, QUEUES, delay, talk_s=2))
        print(f"3/5 {calls} simulated callers dial 95598 …", flush=True)
        started = datetime.now(UTC)
        scenarios = [SCENARIOS[i % len(SCENARIOS)] for i in range(calls)]
        await asyncio.gather(*(place_call(ami, caller) for caller in scenarios))
        records = await _wait_for_calls(bridge, started, calls, timeout_s=120)
        print("4/5 what happened (from the database):\n")
        _print_table(records)
        await bridge.tracking.flushed()
        await _print_figures(bridge, started)
        finished = [r for r in records if r.ended_at and r.outcome != CallOutcome.IN_MENU]
        print("\n5/5 a repair order is recorded and dispatched to the crew on duty by phone …")
        dispatched = await _dispatch_a_repair(bridge, ami)
        return 0 if len(finished) == calls and dispatched else 1
    finally:
        for interface in agents:
            await log_out_agent(ami, interface, QUEUES)
        await ami.close()
        await bridge.stop()


async def _dispatch_a_repair(bridge: Bridge, ami: AmiClient) -> bool:
    """The production policy (5-minute limit, 25 s rings): the primary crew's phone rings out,
    the backup hears the dispatch script and presses 1."""
    now = datetime.now(UTC)
    for priority, crew in enumerate(CREWS, 1):
        await set_up_crew(ami, crew)
        added = await bridge.roster.add_crew(f"抢修{priority}班", PhoneNumber(crew.number))
        await bridge.roster.add_shift(
            added.id, now - timedelta(hours=1), now + timedelta(hours=8), priority
        )
    order = NewOrder(
        OrderKind.REPAIR,
        None,
        "1001",
        "王",
        "女士",
        PhoneNumber("13800000001"),
        "家里停电",
        address="幸福路12号",
        fault="整栋楼停电",
    )
    view, _ = await bridge.work_orders.create(order, "demo", None)
    found = await _wait_for_dispatch(bridge, view.order_no, timeout_s=120)
    for call in found["calls"]:
        print(
            f"  call {call['call_no']}: {call['target']:<10} {mask_number(call['phone']):<13} "
            f"{call['result'] or call['state']}"
        )
    if found["accepted_at"] is None:
        print(f"  order {view.order_no}: NOT accepted ({found['state']})")
        return False
    seconds = found["dispatch_ms"] / 1000
    verdict = "within" if seconds <= 300 else "OVER"
    print(f"  order {view.order_no}: accepted {seconds:.1f} s after recording ({verdict} 5 min)")
    return seconds <= 300


async def _wait_for_dispatch(bridge: Bridge, order_no: str, timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        found = await bridge.dispatch.for_order(order_no)
        if found and (found["accepted_at"] is not None or found["state"] != "active"):
            return found
        if time.monotonic() > deadline:
            return found or {"calls": [], "accepted_at": None, "state": "never started"}
        await asyncio.sleep(0.5)


async def _wait_for_calls(
    bridge: Bridge, since: datetime, count: int, timeout_s: float
) -> list[CallRecord]:
    deadline = time.monotonic() + timeout_s
    while True:
        records = await bridge.repository.list_since(since)
        done = [r for r in records if r.ended_at and r.outcome != CallOutcome.IN_MENU]
        if len(done) >= count or time.monotonic() > deadline:
            return records
        await asyncio.sleep(1)


async def _print_figures(bridge: Bridge, since: datetime) -> None:
    report = await bridge.tracking.report(since, datetime.now(UTC))
    print("\nqueue figures from the AMI call tracker (ring-to-answer and queue wait in ms):")
    print(f"{'queue':<12} {'offered':>7} {'answered':>8} {'<=15s':>6} {'ASA':>7} {'ring avg':>8}")
    for queue, f in [*report.by_queue.items(), ("all", report.total)]:
        print(
            f"{queue:<12} {f.offered:>7} {f.answered:>8} {f.answered_in_15s:>6} "
            f"{f.asa_ms if f.asa_ms is not None else '-':>7} "
            f"{f.avg_ring_to_answer_ms if f.avg_ring_to_answer_ms is not None else '-':>8}"
        )


def _print_table(records: list[CallRecord]) -> None:
    header = f"{'caller':<13} {'keys':<8} {'menu path':<18} {'choice':<26} {'outcome':<18} "
    header += f"{'queue':<12} {'queue result':<14} {'agent':<26} {'secs':>5}"
    print(header)
    print("-" * len(header))
    for r in records:
        secs = (r.ended_at - r.started_at).total_seconds() if r.ended_at else float("nan")
        print(
            f"{mask_number(r.caller_number):<13} {r.keys or '-':<8} {'>'.join(r.menu_path):<18} "
            f"{r.choice or '-':<26} {r.outcome.value:<18} {r.route or '-':<12} "
            f"{r.queue_status or ('ANSWERED' if r.agent_interface else '-'):<14} "
            f"{r.agent_interface or '-':<26} {secs:5.1f}"
        )
    print(f"\n{len(records)} calls recorded.")
