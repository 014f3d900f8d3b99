"""The demo: a real Asterisk, the bridge on SQLite, simulated agents and callers, a report, and
the whole loop of one repair call.

Everything runs for real: the sandbox Asterisk answers each simulated call, hands it to our
FastAGI server, plays our rendered prompts, takes the keys the simulated caller presses and
queues the call for a simulated agent; the table printed is read back from the database. Then
the agent who answered a repair call records its work order through the bridge's REST API (as
the workspace page does, linked to the call), the dispatcher calls the crew on duty (the first
does not answer, the second accepts with 1), the agent closes the order, and the 回访 calls the
simulated customer, whose answers are printed beside the order. With ``serve`` the bridge keeps
running and the URLs and tokens of the workspace and the dashboard are printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from aiohttp import web

from ivr.app import Bridge, make_web_app
from ivr.asterisk.ami import AmiClient
from ivr.config import (
    DEFAULT_STATE_DIR,
    AmiSettings,
    CallbackSettings,
    DispatchSettings,
    Settings,
)
from ivr.domain.access import Role
from ivr.domain.agents import Agent, greeting_text
from ivr.domain.calls import CallOutcome, CallRecord
from ivr.domain.phone import PhoneNumber
from ivr.domain.privacy import mask_number
from ivr_sandbox.asterisk import AmiEndpoint, AsteriskSandbox
from ivr_sandbox.simulation import (
    SimulatedCaller,
    SimulatedCrew,
    SimulatedCustomer,
    log_in_agent,
    log_out_agent,
    place_call,
    set_up_crew,
    set_up_customer,
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
DIALPLAN_AGI_PORT = 4573  # the sandbox dialplan's IVR_AGI_URL
SIM_AGENT = re.compile(r"^Local/(\d+)@sim-agents/n$")
# The customer of the repair call answers the 回访 with keys: it is them (1), the power is back
# (1), satisfied (1), no suggestion (2); each key while the question is read.
CUSTOMER_KEYS = "1wwww1wwww1wwww2"
ORDER_RESULT = "更换熔断器，已恢复供电"


async def run_demo(settings: Settings, calls: int = len(SCENARIOS), serve: bool = False) -> int:
    demo_db = DEFAULT_STATE_DIR / "demo.db"
    for suffix in ("", "-wal", "-shm"):
        demo_db.with_name(demo_db.name + suffix).unlink(missing_ok=True)
    settings = settings.model_copy(deep=True)
    settings.database.url = f"sqlite+aiosqlite:///{demo_db}"
    print("1/6 Asterisk sandbox …", flush=True)
    sandbox = AsteriskSandbox.from_settings(settings)
    with sandbox.exclusive():  # before up(): it installs this checkout's configuration
        endpoint = await asyncio.to_thread(sandbox.up)
        return await run_on(settings, endpoint, calls, serve)


def demo_settings(settings: Settings, endpoint: AmiEndpoint) -> Settings:
    """The demo's bridge: the sandbox's AMI, the dispatcher and the 回访 dialer on, dialling the
    simulated crews and customers at any hour (a demo may run at night), its simulated agents
    accepted as queue members, and every outbound leg's conversation on this bridge's AGI port."""
    settings = settings.model_copy(deep=True)
    settings.ami = AmiSettings(
        host=endpoint.host,
        port=endpoint.port,
        username=endpoint.username,
        secret=endpoint.secret,  # type: ignore[arg-type]
    )
    agi_url = "" if settings.agi.port == DIALPLAN_AGI_PORT else _agi_url(settings)
    settings.dispatch = DispatchSettings(
        dispatcher=True, trunk_context="sim-crews", agi_url=agi_url
    )
    settings.callback = CallbackSettings(
        dialer=True,
        trunk_context="sim-customers",
        agi_url=agi_url,
        window_start="00:00",
        window_end="24:00",
        poll_interval_s=0.5,
        ring_timeout_s=15,
    )
    settings.sandbox.simulated_agents = "sim-agents"
    # the simulated agents take call after call (their wrap-up is the queues' own few seconds)
    settings.agents = settings.agents.model_copy(update={"wrapup_s": 0.0})
    return settings


def _agi_url(settings: Settings) -> str:
    return f"agi://127.0.0.1:{settings.agi.port}"


@dataclass(frozen=True, slots=True)
class WebSite:
    """Where the demo's web app answers, and whether it serves the agents' workspace page."""

    base_url: str
    workspace: bool


async def run_on(
    settings: Settings, endpoint: AmiEndpoint, calls: int = len(SCENARIOS), serve: bool = False
) -> int:
    """The demo on a sandbox that is up and held (``run_demo``, or a test session)."""
    print("2/6 bridge (FastAGI, SQLite, prompts, AMI call tracker, dispatcher, dialer, web) …")
    settings = demo_settings(settings, endpoint)
    bridge = Bridge(settings)
    await bridge.start()
    # no access log: the loop polls the API, and the demo's own lines say what happened
    runner = web.AppRunner(make_web_app(bridge, manage_bridge=False), access_log=None)
    try:
        await runner.setup()
        site = web.TCPSite(runner, settings.web.host, settings.web.port)
        await site.start()
        host, port = runner.addresses[0][:2]
        pages = {r.canonical for r in runner.app.router.resources()}
        found = WebSite(f"http://{host}:{port}", "/workspace" in pages)
        return await _run_calls(bridge, settings, endpoint, calls, found, serve)
    finally:
        await runner.cleanup()
        await bridge.stop()


async def _run_calls(
    bridge: Bridge,
    settings: Settings,
    endpoint: AmiEndpoint,
    calls: int,
    site: WebSite,
    serve: bool,
) -> int:
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
        print(f"3/6 {calls} simulated callers dial 95598 …", flush=True)
        started = datetime.now(UTC)
        scenarios = [SCENARIOS[i % len(SCENARIOS)] for i in range(calls)]
        agi_url = "" if settings.agi.port == DIALPLAN_AGI_PORT else _agi_url(settings)
        await asyncio.gather(*(place_call(ami, caller, agi_url=agi_url) for caller in scenarios))
        records = await _wait_for_calls(bridge, started, calls, timeout_s=120)
        print("4/6 what happened (from the database):\n")
        _print_table(records)
        await bridge.tracking.flushed()
        await _print_figures(bridge, started)
        finished = [r for r in records if r.ended_at and r.outcome != CallOutcome.IN_MENU]
        print(
            "\n5/6 the whole loop of a repair call: the answering agent records the order (REST"
            " API), the crew on duty accepts it by phone, the agent closes it, the 回访 calls"
            " the customer …",
            flush=True,
        )
        looped = await _the_whole_loop(bridge, ami, records, site.base_url)
        ok = len(finished) == calls and looped
        if serve:
            await _serve(bridge, site)
        else:
            print("\n6/6 done (scripts/demo --serve keeps the bridge running for a person to open")
            print("    the workspace and the dashboard)")
        return 0 if ok else 1
    finally:
        for interface in agents:
            await log_out_agent(ami, interface, QUEUES)
        await ami.close()


def _repair_call(records: list[CallRecord]) -> tuple[CallRecord, str] | None:
    """A routed repair call a simulated agent answered, and that agent's 工号."""
    for record in records:
        found = SIM_AGENT.match(record.agent_interface or "")
        if record.choice and record.choice.startswith("repair.") and found:
            return record, found.group(1)
    return None


@contextlib.asynccontextmanager
async def _as(base_url: str, token: str) -> AsyncIterator[aiohttp.ClientSession]:
    """An API client with one person's token, as the workspace page uses it."""
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(base_url, headers=headers) as session:
        yield session


async def _api(session: aiohttp.ClientSession, method: str, path: str, **kw: Any) -> Any:
    async with session.request(method, path, **kw) as response:
        body = await response.json()
        if response.status >= 300:
            raise RuntimeError(f"{method} {path}: {response.status} {body.get('error')}")
        return body


async def _the_whole_loop(
    bridge: Bridge, ami: AmiClient, records: list[CallRecord], base_url: str
) -> bool:
    found = _repair_call(records)
    if found is None:
        print("  no repair call was answered by a simulated agent: nothing to record")
        return False
    call, job = found
    now = datetime.now(UTC)
    for priority, crew in enumerate(CREWS, 1):
        await set_up_crew(ami, crew)
        added = await bridge.roster.add_crew(f"抢修{priority}班", PhoneNumber(crew.number))
        await bridge.roster.add_shift(
            added.id, now - timedelta(hours=1), now + timedelta(hours=8), priority
        )
    await set_up_customer(ami, SimulatedCustomer(call.caller_number, keys=CUSTOMER_KEYS))
    token = await bridge.tokens.create(f"demo-agent-{job}", Role.AGENT, job)
    order_body = {
        "kind": "repair",
        "call_id": call.call_id,  # the order is linked to the call it was taken on
        "customer": {"surname": "王", "title": "女士", "phone": call.caller_number},
        "summary": f"来电报修（{call.choice}）：家里停电",
        "address": "幸福路12号",
        "fault": "整栋楼停电",
    }
    async with _as(base_url, token) as agent:
        order = await _api(agent, "POST", "/api/work-orders", json=order_body)
        order_no = order["order_no"]
        print(
            f"  agent {job} recorded order {order_no} for call {call.call_id[:8]}… from"
            f" {mask_number(call.caller_number)} (owner {order['owner_job_number']})"
        )
        dispatch = await _wait_for_dispatch(bridge, order_no, timeout_s=120)
        for crew_call in dispatch["calls"]:
            outcome = crew_call["result"] or crew_call["state"]
            print(
                f"  dispatch call {crew_call['call_no']}: {crew_call['target']:<10}"
                f" {mask_number(crew_call['phone']):<13} {outcome}"
            )
        if dispatch["accepted_at"] is None:
            print(f"  order {order_no}: NOT accepted by a crew ({dispatch['state']})")
            return False
        seconds = dispatch["dispatch_ms"] / 1000
        verdict = "within" if seconds <= 300 else "OVER"
        print(f"  accepted by the crew {seconds:.1f} s after recording ({verdict} 5 min)")
        closed = await _api(
            agent, "POST", f"/api/work-orders/{order_no}/close", json={"result": ORDER_RESULT}
        )
        print(f"  agent {job} closed it: {closed['result']}; the 回访 is due now")
        callback = await _wait_for_callback(agent, order_no, timeout_s=120)
        view = await _api(agent, "GET", f"/api/work-orders/{order_no}")
    _print_loop(view, call, seconds, callback)
    return callback is not None and callback.get("outcome") == "satisfied"


async def _wait_for_callback(
    session: aiohttp.ClientSession, order_no: str, timeout_s: float
) -> dict[str, Any] | None:
    """The order's 回访 once it has ended (every attempt finished), read through the API."""
    deadline = time.monotonic() + timeout_s
    while True:
        callback = (await _api(session, "GET", f"/api/work-orders/{order_no}/callbacks"))[
            "callback"
        ]
        if (
            callback is not None
            and callback["state"] not in ("pending", "active")
            and all(a["state"] == "finished" for a in callback["attempts"])
        ):
            return callback  # type: ignore[no-any-return]
        if time.monotonic() > deadline:
            print(f"  the 回访 did not end in {timeout_s:.0f} s: {callback}")
            return None
        await asyncio.sleep(1)


def _yes_no(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


def _print_loop(
    view: dict[str, Any], call: CallRecord, dispatch_s: float, callback: dict[str, Any] | None
) -> None:
    """The order and, beside it, what the customer answered in the 回访."""
    left = [
        f"order     {view['order_no']}",
        f"kind      {view['kind']} ({call.choice})",
        f"call      {', '.join(c[:8] + '…' for c in view['call_ids']) or '-'}",
        f"owner     工号 {view['owner_job_number']}",
        f"customer  {mask_number(view['customer_phone'])}",
        f"dispatch  accepted in {dispatch_s:.1f} s",
        f"result    {view['result']}",
        f"status    {view['status']}",
    ]
    right = ["回访 (the customer's answers)"]
    if callback is None:
        right.append("not ended")
    else:
        right += [
            f"attempts        {callback['attempts_made']}",
            f"right person    {_yes_no(callback['right_person'])}",
            f"power restored  {_yes_no(callback['power_restored'])}",
            f"satisfied       {_yes_no(callback['satisfied'])}",
            f"outcome         {callback['outcome']}",
        ]
    print()
    for i in range(max(len(left), len(right))):
        a = left[i] if i < len(left) else ""
        b = right[i] if i < len(right) else ""
        print(f"  {a:<44} {b}")


async def _serve(bridge: Bridge, site: WebSite) -> None:
    """Keep the bridge running for a person: the pages' URLs and tokens, until Ctrl-C. The token
    is in the URL's fragment, which the browser never sends; each page takes it out."""
    supervisor = await bridge.tokens.create("demo-supervisor", Role.SUPERVISOR)
    agent = await bridge.tokens.create("demo-agent-1001", Role.AGENT, "1001")
    print("\n6/6 the bridge keeps running (Ctrl-C stops it):")
    print(f"  dashboard   {site.base_url}/dashboard#token={supervisor}")
    if site.workspace:
        print(f"  workspace   {site.base_url}/workspace#token={agent}   (agent 1001)")
    print(f"  API         {site.base_url}/api/openapi.json")
    print(f"  tokens      supervisor {supervisor}")
    print(f"              agent 1001 {agent}")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


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
