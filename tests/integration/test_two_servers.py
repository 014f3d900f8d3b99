"""One centre on two Asterisk servers: the default sandbox (server ``asterisk-a``) and its second
instance ``b`` (``asterisk-b``), each with its own bridge (`ivr run`, real processes), both on
one PostgreSQL. Callbacks are spread over both servers; mid-run server b's Asterisk is killed
(SIGKILL) while it has callbacks in flight and a caller waiting in a queue.

Every callback must still be completed exactly once (one completed attempt per task, every
attempt finished, the cut ones recovered by lease expiry and called again through server a),
no attempt may ring a customer twice, the centre's cap and each server's own cap must hold
across both (counted from both Asterisks' events, by their clocks), and the caller lost with
server b must be closed as lost with the reason.

The conversations run on a FastAGI server in this test process (callback.agi_url), reached by
both Asterisks: what is tested is the claiming and placing, not the flow.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from ivr.app import Bridge
from ivr.asterisk.ami import AmiClient
from ivr.config import AgiSettings, AsteriskSettings, CallbackSettings, DatabaseSettings, Settings
from ivr.db.models import calls_table, visits_table
from ivr.db.workorder_models import attempts_table, orders_table, tasks_table
from ivr.db.workorders import NewOrder
from ivr.domain.phone import PhoneNumber
from ivr.domain.workorders import OrderKind
from ivr_sandbox.asterisk import AmiEndpoint, AsteriskSandbox
from ivr_sandbox.simulation import SimulatedCaller, SimulatedCustomer, place_call, set_up_customer
from tests.integration.asterisk_fixtures import EventLog
from tests.integration.test_cli import free_port
from tests.integration.test_dialer_two_bridges import LEG, bridge_env, start_bridge
from tests.log_scan import register_secret

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

AGI_PORT = 4578  # the conversations, for both Asterisks
CENTRE_CAP = 4  # callback.max_concurrent: both servers together
SERVER_CAP = 3  # asterisk.max_outbound: each server's trunk
NUMBERS = [f"1399130{n:04d}" for n in range(1, 13)]
WAITING_CALLER = "13991309999"  # calls in on server b and waits in q-general (no agents there)


def server_env(postgres_url: str, ami: AmiEndpoint, server: str, web_port: int) -> dict[str, str]:
    return bridge_env(postgres_url, ami, web_port) | {
        "IVR_ASTERISK__SERVER_NAME": server,
        "IVR_ASTERISK__MAX_OUTBOUND": str(SERVER_CAP),
        "IVR_ASTERISK__HEARTBEAT_S": "1",
        "IVR_ASTERISK__LOST_AFTER_S": "6",
        "IVR_CALLBACK__MAX_CONCURRENT": str(CENTRE_CAP),
        "IVR_CALLBACK__MAX_CALL_S": "30",
        "IVR_CALLBACK__MAX_ATTEMPTS": "3",
        "IVR_CALLBACK__RETRY_SPACING_S": "[2]",
    }


def peaks(events: list[dict[str, str]], killed_at: float) -> tuple[int, dict[str, int]]:
    """The most callback legs up at once on both servers, and on each, by Asterisk's clocks
    (one host clock). Legs of server b still up when it was killed end at the kill."""
    live: dict[tuple[str, str], str] = {}  # (server, Uniqueid) → server
    centre, per_server = 0, Counter[str]()
    killed = False
    legs = [
        e
        for e in events
        if e.get("Event") in ("Newchannel", "Hangup") and LEG.match(e.get("Channel", ""))
    ]
    for e in sorted(legs, key=lambda e: float(e["Timestamp"])):
        if not killed and float(e["Timestamp"]) > killed_at:
            killed = True
            live = {uid: server for uid, server in live.items() if server != "asterisk-b"}
        key = (e["server"], e["Uniqueid"])  # two Asterisks may give one Uniqueid
        if e.get("Event") == "Newchannel":
            live[key] = e["server"]
            centre = max(centre, len(live))
            here = sum(1 for s in live.values() if s == e["server"])
            per_server[e["server"]] = max(per_server[e["server"]], here)
        elif e.get("Event") == "Hangup":
            live.pop(key, None)
    return centre, dict(per_server)


async def observe(endpoint: AmiEndpoint, server: str, events: EventLog) -> AmiClient:
    client = AmiClient(endpoint.host, endpoint.port, endpoint.username, endpoint.secret)
    client.on_event("*", lambda e: events.append({**e, "server": server}))
    await client.connect()
    return client


async def test_two_servers_share_callbacks_and_survive_one_asterisk_killed(
    postgres_url: str, sandbox: AmiEndpoint, second_sandbox: AsteriskSandbox, tmp_path: Path
) -> None:
    box_b = second_sandbox
    ami_b = box_b.ami
    register_secret(ami_b.secret)
    events = EventLog()
    clients = [
        await observe(sandbox, "asterisk-a", events),
        await observe(ami_b, "asterisk-b", events),
    ]
    conversations = Bridge(
        Settings(
            database=DatabaseSettings(url=postgres_url),
            agi=AgiSettings(port=AGI_PORT),
            asterisk=AsteriskSettings(server_name="conversations"),
            # it finishes the conversations, so the attempts' leases and the retries are its
            callback=CallbackSettings(
                window_start="00:00",
                window_end="24:00",
                max_call_s=30,
                max_attempts=3,
                retry_spacing_s=[2],
            ),
        )
    )
    processes: list[asyncio.subprocess.Process] = []
    killed_at = float("inf")
    try:
        for client in clients:  # either server may place any callback
            for number in NUMBERS:
                await set_up_customer(
                    client, SimulatedCustomer(number, keys="1wwww1wwww1wwww2", hold_s=6)
                )
        await conversations.start()  # migrates the database, serves the callback flow
        for server, ami, agi_port in [
            ("asterisk-a", sandbox, 0),
            ("asterisk-b", ami_b, box_b.agi_port),  # b's menu calls come to its own bridge
        ]:
            port = free_port()
            env = server_env(postgres_url, ami, server, port) | {
                "IVR_AGI__PORT": str(agi_port),
                "IVR_CALLBACK__AGI_URL": f"agi://127.0.0.1:{AGI_PORT}",
            }
            processes.append(await start_bridge(env, port, tmp_path / f"{server}.log"))

        # a caller on server b, routed to a queue nobody answers there: live when b dies
        await place_call(clients[1], SimulatedCaller(WAITING_CALLER, keys="0", hold_s=300))
        for number in NUMBERS:
            new = NewOrder(
                OrderKind.REPAIR, None, "1024", "李", "先生", PhoneNumber(number), "停电"
            )
            view, _ = await conversations.work_orders.create(new, "test", None)
            await conversations.work_orders.close(view.order_no, "已修复", "test", None)

        # kill b's Asterisk once both servers placed calls and b has some in flight
        in_flight: list[str] = []
        deadline = time.monotonic() + 90
        while True:
            assert time.monotonic() < deadline, "never calls on both servers with b's in flight"
            async with conversations.engine.connect() as conn:
                rows = (await conn.execute(select(attempts_table))).all()
                waiting = (
                    await conn.execute(
                        select(visits_table.c.id).where(
                            visits_table.c.caller_number == WAITING_CALLER,
                            visits_table.c.outcome == "waiting",
                        )
                    )
                ).first()
            in_flight = [
                r.action_id
                for r in rows
                if r.server_name == "asterisk-b" and r.state in ("originating", "answered")
            ]
            if in_flight and waiting and {r.server_name for r in rows} >= {"asterisk-a"}:
                break
            await asyncio.sleep(0.2)
        pid = box_b.daemon_pid()
        assert pid is not None
        killed_at = time.time()
        os.kill(pid, signal.SIGKILL)

        # everything settles through server a
        deadline = time.monotonic() + 240
        while True:
            async with conversations.engine.connect() as conn:
                tasks = (await conn.execute(select(tasks_table))).all()
                attempts = (await conn.execute(select(attempts_table))).all()
                phones = dict(
                    (await conn.execute(select(orders_table.c.id, orders_table.c.customer_phone)))
                    .tuples()
                    .all()
                )
                [lost_call] = (
                    await conn.execute(
                        select(calls_table).where(calls_table.c.caller_number == WAITING_CALLER)
                    )
                ).all()
                [lost_visit] = (
                    await conn.execute(
                        select(visits_table).where(visits_table.c.caller_number == WAITING_CALLER)
                    )
                ).all()
            if (
                len(tasks) == len(NUMBERS)
                and all(t.state == "done" for t in tasks)
                and all(a.state == "finished" for a in attempts)
                and lost_call.outcome == "lost"
            ):
                break
            assert time.monotonic() < deadline, Counter(t.state for t in tasks)
            assert processes[0].returncode is None, "server a's bridge died"
            await asyncio.sleep(1)
    finally:
        for process in processes:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
                await asyncio.wait_for(process.wait(), 30)
        await conversations.stop()
        for client in clients:
            await client.close()
        if killed_at != float("inf"):
            await asyncio.to_thread(box_b.up)  # the next test finds instance b running

    # both servers placed callbacks; exactly one completed attempt per task, none left open
    assert {a.server_name for a in attempts} == {"asterisk-a", "asterisk-b"}
    completed = Counter(a.task_id for a in attempts if a.result == "completed")
    assert completed == {t.id: 1 for t in tasks}
    # b's calls in flight at the kill were recovered by lease expiry, and their tasks completed
    # later through server a
    recovered = [a for a in attempts if a.action_id in in_flight]
    assert len(recovered) == len(in_flight) >= 1
    assert all(a.result == "failed" for a in recovered)
    retried = {a.task_id for a in recovered}
    assert {
        a.server_name for a in attempts if a.task_id in retried and a.result == "completed"
    } == {"asterisk-a"}
    # no attempt rang a customer twice: at most one ring per attempt, on either server
    task_phone = {t.id: phones[t.order_id] for t in tasks}
    attempts_of = Counter(task_phone[a.task_id] for a in attempts)
    seen = events.events
    rang = Counter(
        e["Number"]
        for e in seen
        if e.get("UserEvent") == "SimCustomerRinging" and e["Number"] in NUMBERS
    )
    assert all(rang[n] <= attempts_of[n] for n in NUMBERS), (rang, attempts_of)
    assert all(rang[n] == 1 for n in NUMBERS if attempts_of[n] == 1), rang
    # the centre's cap across both servers, and each server's own
    centre, per_server = peaks(seen, killed_at)
    assert centre <= CENTRE_CAP
    assert all(peak <= SERVER_CAP for peak in per_server.values()), per_server
    # the caller on server b: closed as lost, with the reason, in the call and the visit
    assert lost_call.server_name == lost_visit.server_name == "asterisk-b"
    assert lost_call.lost_reason.startswith("server asterisk-b lost")
    assert lost_visit.outcome == "lost" and lost_visit.note == lost_call.lost_reason
