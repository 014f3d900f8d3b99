"""Virtual hold as real calls: callers through the sandboxed Asterisk and our menu, simulated
agents in test queues, call-backs dialled to simulated customers ([sim-customers]). Who reached
the agent in which order, and how many call-backs were in flight, is read from AMI's events.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from ivr.app import Bridge
from ivr.config import (
    AgiSettings,
    AmiSettings,
    CallbackSettings,
    DatabaseSettings,
    MenuSettings,
    Settings,
    SpeechSettings,
    VirtualHoldSettings,
)
from ivr.db.engine import create_engine
from ivr.db.virtual_hold_models import kept_places_table
from ivr.domain.phone import PhoneNumber
from ivr.domain.privacy import mask_number
from ivr.domain.virtual_hold import position_text
from ivr_sandbox.simulation import (
    SimulatedCaller,
    SimulatedCustomer,
    log_in_agent,
    log_out_agent,
    place_call,
    place_queue_call,
    set_up_customer,
)
from tests.integration.asterisk_fixtures import EventLog
from tests.integration.test_agent_greeting import best_match, envelope
from tests.integration.test_cli import free_port
from tests.integration.test_dialer_two_bridges import start_bridge
from tests.integration.test_outage_calls import heard_in

pytestmark = pytest.mark.integration

AGI_PORT = 4591  # this module's bridge; 4573-4585 are the session's and other tests'
MENU = Path(__file__).resolve().parents[2] / "ivr" / "data" / "menu_95598.toml"
KEEP = "0wwwwww1"  # 0: a person (the test queue), then 1 while the offer is read


def menu_to(tmp: Path, queue: str) -> Path:
    """The packaged menu with 0 (a person) routed to ``queue``."""
    path = tmp / f"menu-{queue}.toml"
    path.write_text(MENU.read_text(encoding="utf-8").replace('"q-general"', f'"{queue}"'))
    return path


def callback_settings() -> CallbackSettings:
    return CallbackSettings(
        trunk_context="sim-customers",
        max_concurrent=8,
        rate_per_s=4,
        ring_timeout_s=10,
        poll_interval_s=0.5,
        claim_lease_s=5,
        window_start="00:00",
        window_end="24:00",
    )


@pytest.fixture(scope="module")
async def vhold_bridge(sandbox, tmp_path_factory) -> AsyncIterator[Bridge]:  # type: ignore[no-untyped-def]
    tmp = Path(tmp_path_factory.mktemp("vhold"))
    settings = Settings(
        database=DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp / 'vhold.db'}"),
        agi=AgiSettings(port=AGI_PORT),
        ami=AmiSettings(
            host=sandbox.host, port=sandbox.port, username=sandbox.username, secret=sandbox.secret
        ),
        speech=SpeechSettings(recognition=False),
        menu=MenuSettings(file=menu_to(tmp, "q-t-vh")),
        callback=callback_settings(),
        virtual_hold=VirtualHoldSettings(
            enabled=True,
            queues=["q-t-vh", "q-t-vh2"],
            threshold_s=0,
            max_attempts=2,
            retry_spacing_s=2,
            announce_interval_s=8,
        ),
    )
    bridge = Bridge(settings)
    await bridge.start()
    assert bridge.link is not None
    await asyncio.wait_for(bridge.link.resynced.wait(), 30)
    yield bridge
    await bridge.stop()


async def until(what: str, check: Callable[[], object], timeout_s: float = 120) -> object:
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.3)


def joined(log: EventLog, queue: str, number: str) -> str | None:
    """The caller channel's Uniqueid once ``number`` joined ``queue``."""
    events = log.named("QueueCallerJoin", Queue=queue, CallerIDNum=number)
    return events[0]["Uniqueid"] if events else None


def answered_order(log: EventLog, queue: str) -> list[str]:
    """Caller channels of ``queue`` in the order agents answered them."""
    return [e["Uniqueid"] for e in log.named("AgentConnect", Queue=queue)]


async def places(bridge: Bridge) -> list:  # type: ignore[type-arg]
    async with bridge.engine.connect() as conn:
        return list((await conn.execute(select(kept_places_table))).all())


async def test_called_back_after_earlier_callers_and_ahead_of_later_ones(
    vhold_bridge: Bridge, ami
) -> None:  # type: ignore[no-untyped-def]
    client, log = ami
    queue, early, kept, late = "q-t-vh", "13991100001", "13991100002", "13991100003"
    await set_up_customer(client, SimulatedCustomer(kept, hold_s=40))
    # nobody on duty yet: the queue fills up
    await place_queue_call(client, SimulatedCaller(early, hold_s=120), queue)
    early_uid = await until("the early caller", lambda: joined(log, queue, early))
    await place_call(
        client, SimulatedCaller(kept, KEEP, hold_s=60), agi_url=f"agi://127.0.0.1:{AGI_PORT}"
    )
    rows = await until("the kept place", lambda: places(vhold_bridge))
    assert len(rows) == 1 and rows[0].queue == queue and rows[0].phone == kept  # type: ignore[arg-type]
    # the caller hung up: they never joined the queue themselves
    assert joined(log, queue, kept) is None
    await place_queue_call(client, SimulatedCaller(late, hold_s=120), queue)
    late_uid = await until("the late caller", lambda: joined(log, queue, late))

    # one agent logs in: talks long enough that the call-back is queued before the agent is free
    agent = await log_in_agent(client, "7101", [queue], answer_after_s=0.5, talk_s=12)
    try:
        await until("three calls answered", lambda: len(answered_order(log, queue)) >= 3, 240)
    finally:
        await log_out_agent(client, agent, [queue])
    (row,) = await places(vhold_bridge)
    assert row.state == "connected" and row.attempts_made == 1
    assert answered_order(log, queue) == [early_uid, row.unique_id, late_uid]
    rang = log.named("UserEvent", UserEvent="SimCustomerRinging", Number=kept)
    assert len(rang) == 1
    # counted apart on the dashboard and /metrics, the number masked
    snapshot = await vhold_bridge.dashboard.snapshot()
    held = snapshot["today"]["virtual_hold"]
    assert (held["kept"], held["called_back"], held["connected"], held["failed"]) == (1, 1, 1, 0)
    (shown,) = snapshot["virtual_hold"]
    assert shown["queue"] == queue and shown["state"] == "connected"
    assert shown["caller"] == mask_number(kept)
    scrape = (await vhold_bridge.metrics.exposition(vhold_bridge.dashboard.snapshot)).decode()
    assert 'ivr_virtual_hold_today{figure="connected"} 1.0' in scrape


async def test_a_waiting_caller_hears_their_place_and_expected_wait(
    vhold_bridge: Bridge, ami
) -> None:  # type: ignore[no-untyped-def]
    client, log = ami
    queue, number = "q-t-vh", "13991100009"  # nobody on duty: the caller stays in line
    target = Settings().sandbox.recordings_dir / f"vhold-{uuid.uuid4().hex[:6]}"
    # 0 (a person), then 2 (wait rather than keep the place); what they hear is recorded
    await place_call(
        client,
        SimulatedCaller(number, "0wwwwww2", hold_s=30),
        record_to=str(target),
        agi_url=f"agi://127.0.0.1:{AGI_PORT}",
    )
    uid = await until("the caller in the queue", lambda: joined(log, queue, number))
    await until("the caller's hang-up", lambda: log.named("Hangup", Uniqueid=uid), 90)
    said = position_text(1, vhold_bridge.call_back_desk.wait_for(queue, 0))  # type: ignore[union-attr]
    prompt = await vhold_bridge.prompts.prompt_path(said)
    whispered = [e for e in log.named("ChanSpyStart") if e.get("SpyeeUniqueid") == uid]
    assert whispered, "no announcement was whispered to the caller"
    offset, score = best_match(await heard_in(target), envelope(prompt.with_suffix(".wav"))[5:-10])
    print(f"announcement at {offset * 20} ms, correlation {score:.3f}")
    assert score > 0.8
    assert not await places(vhold_bridge) or all(
        r.phone != number for r in await places(vhold_bridge)
    )


async def test_one_agent_five_places_one_call_back_in_flight(vhold_bridge: Bridge, ami) -> None:  # type: ignore[no-untyped-def]
    client, log = ami
    queue = "q-t-vh2"
    numbers = [f"1399120000{n}" for n in range(1, 6)]
    start = len(log.events)
    now = time.time()
    for i, number in enumerate(numbers):
        await set_up_customer(client, SimulatedCustomer(number, hold_s=30))
        arrived = _at(now - 60 + i)
        await vhold_bridge.kept_places.keep(queue, PhoneNumber(number), None, arrived)
    agent = await log_in_agent(client, "7102", [queue], answer_after_s=0.5, talk_s=2)
    try:
        await until(
            "five call-backs connected",
            lambda: _all_connected(vhold_bridge, queue, len(numbers)),
            300,
        )
    finally:
        await log_out_agent(client, agent, [queue])
    # in flight: from the customer's leg being created until an agent answered it (or it ended)
    seen = log.events[start:]
    legs = {
        e["Uniqueid"]: e["Channel"].split("/")[1].split("@")[0]
        for e in seen
        if e.get("Event") == "Newchannel"
        and e.get("Channel", "").endswith(";1")
        and "@sim-customers-" in e.get("Channel", "")
        and e["Channel"].split("/")[1].split("@")[0] in numbers
    }
    live: set[str] = set()
    peak = 0
    order = []
    for e in seen:
        uid = e.get("Uniqueid")
        if uid not in legs:
            continue
        if e.get("Event") == "Newchannel":
            live.add(uid)
            peak = max(peak, len(live))
        elif e.get("Event") == "AgentConnect" or e.get("Event") == "Hangup":
            if e.get("Event") == "AgentConnect":
                order.append(legs[uid])
            live.discard(uid)
    assert len(legs) == len(numbers)  # each customer called once
    assert peak == 1
    assert order == numbers  # in the order they arrived


def _at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


async def _all_connected(bridge: Bridge, queue: str, count: int) -> bool:
    rows = [r for r in await places(bridge) if r.queue == queue]
    assert not [r for r in rows if r.state in ("failed", "cancelled")], rows
    return len(rows) == count and all(r.state == "connected" for r in rows)


@pytest.mark.postgres
async def test_place_kept_across_kill_9_called_once(
    postgres_url: str, sandbox, ami, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    client, log = ami
    start = len(log.events)  # the session's log also holds earlier tests' rings
    queue, early, kept = "q-t-vh3", "13991300001", "13991300002"
    menu = menu_to(tmp_path, queue)
    await set_up_customer(client, SimulatedCustomer(kept, hold_s=30))
    processes: list[asyncio.subprocess.Process] = []
    agi_ports = [free_port(), free_port()]
    try:
        for i in range(2):
            web_port = free_port()
            env = os.environ | {
                "IVR_DATABASE__URL": postgres_url,
                "IVR_AGI__PORT": str(agi_ports[i]),
                "IVR_WEB__PORT": str(web_port),
                "IVR_AMI__HOST": sandbox.host,
                "IVR_AMI__PORT": str(sandbox.port),
                "IVR_AMI__USERNAME": sandbox.username,
                "IVR_AMI__SECRET": sandbox.secret,
                "IVR_SPEECH__RECOGNITION": "false",
                "IVR_MENU__FILE": str(menu),
                "IVR_CALLBACK__TRUNK_CONTEXT": "sim-customers",
                "IVR_CALLBACK__POLL_INTERVAL_S": "0.5",
                "IVR_CALLBACK__CLAIM_LEASE_S": "5",
                "IVR_CALLBACK__RING_TIMEOUT_S": "10",
                "IVR_CALLBACK__WINDOW_START": "00:00",
                "IVR_CALLBACK__WINDOW_END": "24:00",
                "IVR_VIRTUAL_HOLD__ENABLED": "true",
                "IVR_VIRTUAL_HOLD__QUEUES": f'["{queue}"]',
                "IVR_VIRTUAL_HOLD__THRESHOLD_S": "0",
            }
            processes.append(await start_bridge(env, web_port, tmp_path / f"bridge{i}.log"))
        victim, survivor = processes
        await place_queue_call(client, SimulatedCaller(early, hold_s=120), queue)
        early_uid = await until("the early caller", lambda: joined(log, queue, early))
        # the victim serves the menu of the caller who keeps their place
        await place_call(
            client,
            SimulatedCaller(kept, KEEP, hold_s=60),
            agi_url=f"agi://127.0.0.1:{agi_ports[0]}",
        )
        await until("the kept place", lambda: _rows(postgres_url))
        await until(
            "the kept caller's hang-up",
            lambda: log.named("Hangup", CallerIDNum=kept),
        )
        victim.send_signal(signal.SIGKILL)
        await victim.wait()

        agent = await log_in_agent(client, "7103", [queue], answer_after_s=0.5, talk_s=8)
        try:
            await until("two calls answered", lambda: len(answered_order(log, queue)) >= 2, 240)
        finally:
            await log_out_agent(client, agent, [queue])
        (row,) = await _rows(postgres_url)
        assert row.state == "connected" and row.attempts_made == 1
        assert answered_order(log, queue) == [early_uid, row.unique_id]
        assert f":{survivor.pid}:" in (row.claimed_by or "")
        rang = [
            e
            for e in log.events[start:]
            if e.get("UserEvent") == "SimCustomerRinging" and e.get("Number") == kept
        ]
        assert len(rang) == 1, rang
    finally:
        for process in processes:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
                await asyncio.wait_for(process.wait(), 30)


async def _rows(url: str) -> list:  # type: ignore[type-arg]
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return list((await conn.execute(select(kept_places_table))).all())
    finally:
        await engine.dispose()
