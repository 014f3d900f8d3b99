"""Two bridge processes (`ivr run`, real subprocesses) dial callbacks from one PostgreSQL; one is
killed with SIGKILL while it has calls in flight. Every due callback must be placed exactly once:
counted on AMI (each customer rang and answered once, one OriginateResponse per number) and in
the database (one attempt per task, all completed).

The conversations run on a FastAGI server in this test process (callback.agi_url), so killing a
dialer does not cut a conversation short: what is tested is the claiming, not the flow.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from ivr.app import Bridge
from ivr.config import AgiSettings, CallbackSettings, DatabaseSettings, Settings
from ivr.db.workorder_models import attempts_table, tasks_table
from ivr.db.workorders import NewOrder
from ivr.domain.phone import PhoneNumber
from ivr.domain.workorders import OrderKind
from ivr_sandbox.simulation import SimulatedCustomer, set_up_customer
from tests.integration.test_cli import free_port, get_json

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

AGI_PORT = 4575
MAX_CONCURRENT = 4
NUMBERS = [f"1399100{n:04d}" for n in range(1, 11)]
LEG = re.compile(r"^Local/(\d+)@sim-customers-[0-9a-f]+;1$")


def bridge_env(postgres_url: str, sandbox, web_port: int) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return os.environ | {
        "IVR_DATABASE__URL": postgres_url,
        "IVR_AGI__PORT": "0",
        "IVR_WEB__PORT": str(web_port),
        "IVR_AMI__HOST": sandbox.host,
        "IVR_AMI__PORT": str(sandbox.port),
        "IVR_AMI__USERNAME": sandbox.username,
        "IVR_AMI__SECRET": sandbox.secret,
        "IVR_CALLBACK__DIALER": "true",
        "IVR_CALLBACK__TRUNK_CONTEXT": "sim-customers",
        "IVR_CALLBACK__AGI_URL": f"agi://127.0.0.1:{AGI_PORT}",
        "IVR_CALLBACK__MAX_CONCURRENT": str(MAX_CONCURRENT),
        "IVR_CALLBACK__RATE_PER_S": "4",
        "IVR_CALLBACK__RING_TIMEOUT_S": "8",
        "IVR_CALLBACK__POLL_INTERVAL_S": "0.5",
        "IVR_CALLBACK__CLAIM_LEASE_S": "5",
        "IVR_CALLBACK__WINDOW_START": "00:00",
        "IVR_CALLBACK__WINDOW_END": "24:00",
    }


async def start_bridge(env: dict[str, str], web_port: int, log: Path) -> asyncio.subprocess.Process:
    with log.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "ivr", "run", env=env, stderr=stderr
        )
    for _ in range(120):
        await asyncio.sleep(0.5)
        try:
            await asyncio.to_thread(get_json, f"http://127.0.0.1:{web_port}/health")
            return process
        except OSError:
            assert process.returncode is None, log.read_text()[-2000:]
    raise AssertionError("bridge did not come up")


async def test_kill_9_one_of_two_bridges_every_callback_once(
    postgres_url: str, sandbox, ami, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    client, events = ami
    for number in NUMBERS:
        await set_up_customer(client, SimulatedCustomer(number, keys="1wwww1wwww1wwww2", hold_s=20))
    conversations = Bridge(
        Settings(
            database=DatabaseSettings(url=postgres_url),
            agi=AgiSettings(port=AGI_PORT),
            # it closes the orders, so its policy schedules them: the same calling hours
            callback=CallbackSettings(window_start="00:00", window_end="24:00"),
        )
    )
    await conversations.start()  # migrates the database, serves the callback flow
    processes: list[asyncio.subprocess.Process] = []
    try:
        for i in range(2):
            port = free_port()
            env = bridge_env(postgres_url, sandbox, port)
            processes.append(await start_bridge(env, port, tmp_path / f"bridge{i}.log"))
        victim, survivor = processes
        start = len(events.events)

        order_nos = []
        for number in NUMBERS:
            new = NewOrder(
                OrderKind.REPAIR, None, "1024", "李", "先生", PhoneNumber(number), "停电"
            )
            view, _ = await conversations.work_orders.create(new, "test", None)
            await conversations.work_orders.close(view.order_no, "已修复", "test", None)
            order_nos.append(view.order_no)

        # kill the victim while it has at least one call of its own in flight
        in_flight: list[str] = []
        deadline = time.monotonic() + 60
        while not in_flight:
            assert time.monotonic() < deadline, "the victim never placed a call"
            async with conversations.engine.connect() as conn:
                in_flight = list(
                    (
                        await conn.execute(
                            select(attempts_table.c.action_id).where(
                                attempts_table.c.claimed_by.like(f"%:{victim.pid}:%"),
                                attempts_table.c.state.in_(("originating", "answered")),
                            )
                        )
                    ).scalars()
                )
            await asyncio.sleep(0.2)
        victim.send_signal(signal.SIGKILL)
        await victim.wait()

        # everything settles through the survivor
        deadline = time.monotonic() + 240
        while True:
            async with conversations.engine.connect() as conn:
                tasks = (await conn.execute(select(tasks_table))).all()
                attempts = (await conn.execute(select(attempts_table))).all()
            if (
                len(tasks) == len(NUMBERS)
                and all(t.state == "done" for t in tasks)
                and all(a.state == "finished" for a in attempts)
            ):
                break
            assert time.monotonic() < deadline, Counter(t.state for t in tasks)
            assert survivor.returncode is None, "the survivor died"
            await asyncio.sleep(1)
    finally:
        for process in processes:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
                await asyncio.wait_for(process.wait(), 30)
        await conversations.stop()

    # the database: one attempt per task, each completed; the victim's in-flight ones included
    assert Counter(a.task_id for a in attempts) == {t.id: 1 for t in tasks}
    assert {a.result for a in attempts} == {"completed"}
    finished_in_flight = [a for a in attempts if a.action_id in in_flight]
    assert len(finished_in_flight) == len(in_flight) >= 1
    # Asterisk: every customer rang once and answered once; one originate result per number
    seen = events.events[start:]
    rang = Counter(
        e["Number"]
        for e in seen
        if e.get("UserEvent") == "SimCustomerRinging" and e["Number"] in NUMBERS
    )
    answered = Counter(
        e["Number"]
        for e in seen
        if e.get("UserEvent") == "SimCustomerAnswered" and e["Number"] in NUMBERS
    )
    assert rang == answered == dict.fromkeys(NUMBERS, 1)
    originated = Counter(
        m.group(1)
        for e in seen
        if e.get("Event") == "OriginateResponse" and (m := LEG.match(e.get("Channel", "")))
    )
    assert originated == dict.fromkeys(NUMBERS, 1)
    # and never more than the limit at once, across both bridges
    live: set[str] = set()
    peak = 0
    for e in seen:
        if LEG.match(e.get("Channel", "")):
            if e.get("Event") == "Newchannel":
                live.add(e["Uniqueid"])
                peak = max(peak, len(live))
            elif e.get("Event") == "Hangup":
                live.discard(e["Uniqueid"])
    assert peak <= MAX_CONCURRENT
