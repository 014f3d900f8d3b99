"""Two bridges on one PostgreSQL see one centre (docs/several-bridges.md).

Bridge A is an `ivr run` process following the sandbox's Asterisk (AMI) and running the repair
dispatcher; bridge B runs in this test process without AMI, so whatever B shows of the queues
came from A through the shared picture (`live_pictures` and `LISTEN/NOTIFY`):

* an agent logged in and paused on A's Asterisk is on B's wallboard and in B's workspace feed,
  and unpausing them on A changes both;
* a caller waiting in a queue A follows is in B's dashboard snapshot, B's `/metrics` and the
  agent's queues on B's feed;
* a repair order recorded through B reaches A's dispatcher at once: A polls once a minute
  (the setting's maximum), so a claim within 20 s came from the announcement; the hand-over
  time is measured and printed;
* A killed with SIGKILL leaves B's picture once its heartbeat expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from ivr.app import Bridge, make_web_app
from ivr.asterisk.ami import AmiError
from ivr.config import AgiSettings, DatabaseSettings, LiveSettings, Settings
from ivr.db.dispatch_models import DispatchCallRow, DispatchJobRow
from ivr.db.workorder_models import orders_table
from ivr.domain.access import Role
from ivr.domain.agents import Agent
from ivr.domain.phone import PhoneNumber
from ivr.domain.privacy import mask_number
from ivr.domain.workorders import NewOrder, OrderKind
from ivr_sandbox.simulation import (
    SimulatedCaller,
    SimulatedCrew,
    log_in_agent,
    log_out_agent,
    place_queue_call,
    set_up_crew,
)
from tests.integration.test_cli import free_port, get_json
from tests.integration.test_workspace_feed import connect

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

log = logging.getLogger(__name__)

QUEUE = "q-t-8"
JOB = "3901"
INTERFACE = f"Local/{JOB}@sim-agents/n"
CREW = SimulatedCrew("13799000391", keys="1", pause_s=1, hold_s=5)
LIVE = {"heartbeat_s": 0.5, "expire_s": 3.0}


def bridge_a_env(postgres_url: str, sandbox: Any, web_port: int) -> dict[str, str]:
    agi_port = free_port()
    return os.environ | {
        "IVR_DATABASE__URL": postgres_url,
        "IVR_AGI__PORT": str(agi_port),
        "IVR_WEB__PORT": str(web_port),
        "IVR_AMI__HOST": sandbox.host,
        "IVR_AMI__PORT": str(sandbox.port),
        "IVR_AMI__USERNAME": sandbox.username,
        "IVR_AMI__SECRET": sandbox.secret,
        "IVR_LIVE__BRIDGE_ID": "bridge-a",
        "IVR_LIVE__HEARTBEAT_S": str(LIVE["heartbeat_s"]),
        "IVR_LIVE__EXPIRE_S": str(LIVE["expire_s"]),
        "IVR_DISPATCH__DISPATCHER": "true",
        "IVR_DISPATCH__TRUNK_CONTEXT": "sim-crews",
        "IVR_DISPATCH__AGI_URL": f"agi://127.0.0.1:{agi_port}",
        "IVR_DISPATCH__POLL_INTERVAL_S": "60",  # the maximum: only an announcement is faster
        "IVR_AGENTS__WRAPUP_S": "0",
    }


async def start_bridge_a(env: dict[str, str], web_port: int, log_file: Path) -> Any:
    with log_file.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "ivr", "run", env=env, stderr=stderr
        )
    for _ in range(120):
        await asyncio.sleep(0.5)
        try:
            ready = await asyncio.to_thread(get_json, f"http://127.0.0.1:{web_port}/health/ready")
        except OSError:
            assert process.returncode is None, log_file.read_text()[-3000:]
            continue
        if ready.get("status") == "ready":
            return process
    raise AssertionError("bridge A did not come up:\n" + log_file.read_text()[-3000:])


async def until(check: Callable[[], Awaitable[Any]], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s} s: {what}")
        await asyncio.sleep(0.2)


async def test_two_bridges_one_picture_and_orders_handed_over_at_once(
    postgres_url: str, sandbox, ami, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    client, _ = ami
    b = Bridge(
        Settings(
            database=DatabaseSettings(url=postgres_url),
            agi=AgiSettings(port=0),
            live=LiveSettings(bridge_id="bridge-b", **LIVE),  # type: ignore[arg-type]
        )
    )
    await b.start()  # no AMI: B knows of the queues only what A shares
    assert b.live is not None and b.change_feed is not None
    await asyncio.wait_for(b.change_feed.connected.wait(), 10)
    await b.agents.put(Agent(JOB, "测试", INTERFACE, (QUEUE,)))
    supervisor = await b.tokens.create("sup-live", Role.SUPERVISOR)
    agent_token = await b.tokens.create("agent-live", Role.AGENT, JOB)
    sup = {"Authorization": f"Bearer {supervisor}"}
    now = datetime.now(UTC)
    crew = await b.roster.add_crew("crew-live", PhoneNumber(CREW.number))
    await b.roster.add_shift(crew.id, now - timedelta(hours=1), now + timedelta(hours=1), 1)
    await set_up_crew(client, CREW)

    port = free_port()
    a_log = tmp_path / "bridge-a.log"
    a = await start_bridge_a(bridge_a_env(postgres_url, sandbox, port), port, a_log)
    try:
        async with TestClient(TestServer(make_web_app(b, manage_bridge=False))) as web:

            async def dashboard() -> dict[str, Any]:
                response = await web.get("/api/dashboard", headers=sup)
                assert response.status == 200
                return await response.json()

            async def agent_on_b(paused: bool) -> bool:
                board = await dashboard()
                return any(
                    x["job_number"] == JOB and (x["state"] == "paused") is paused
                    for x in board["agents"]
                )

            # an agent logged in on A's Asterisk, paused: on B's wallboard and feed
            await log_in_agent(client, JOB, [], answer_after_s="never")
            await client.queue_add(QUEUE, INTERFACE, JOB)
            await client.queue_pause(QUEUE, INTERFACE, True, "培训")
            await until(lambda: agent_on_b(True), 20, "A's paused agent on B's wallboard")
            assert "bridge-a" in (await dashboard())["bridges"]
            feed = await connect(web, agent_token)
            hello = await feed.wait_for("hello", 5)
            assert hello["queues"] == [
                {"queue": QUEUE, "logged_in": True, "paused": True, "callers": []}
            ]

            # the agent unpaused on A: B's feed and wallboard follow
            await client.queue_pause(QUEUE, INTERFACE, False, "")
            unpaused = await feed.wait_for("queues", 10)
            assert unpaused["queues"][0]["paused"] is False
            await until(lambda: agent_on_b(False), 10, "the agent unpaused on B's wallboard")
            await client.queue_pause(QUEUE, INTERFACE, True, "培训")  # so the caller waits

            # a caller waiting in a queue A follows: in B's dashboard, /metrics and feed
            caller = SimulatedCaller("13900003901", hold_s=40)
            await place_queue_call(client, caller, QUEUE)

            async def waiting_on_b() -> list[dict[str, Any]]:
                return [w for w in (await dashboard())["waiting"] if w["queue"] == QUEUE]

            (entry,) = await until(waiting_on_b, 20, "A's waiting caller on B's dashboard")
            assert entry["caller"] == mask_number(caller.number)  # masked in the shared row too
            board = await dashboard()
            assert board["queues"][QUEUE]["waiting"] == 1
            assert board["headline"][3]["key"] == "waiting" and board["headline"][3]["value"] >= 1
            metrics = await (await web.get("/metrics", headers=sup)).text()
            assert gauge(metrics, "ivr_queue_waiting_callers", queue=QUEUE) == 1
            assert gauge(metrics, "ivr_queue_members", queue=QUEUE) == 1
            with_caller = await feed.wait_for("queues", 10)
            while not with_caller["queues"][0]["callers"]:
                feed.messages.remove(with_caller)
                with_caller = await feed.wait_for("queues", 10)
            assert with_caller["queues"][0]["callers"][0]["caller"] == entry["caller"]

            # an order recorded through B reaches A's dispatcher at once
            new = NewOrder(
                OrderKind.REPAIR, None, "1024", "王", "女士", PhoneNumber("13800138391"), "停电"
            )
            view, _ = await b.work_orders.create(new, "test", None)
            claimed_at = await until(lambda: claim_of(b, view.order_no), 20, "A claims it")
            handover = (claimed_at - view.created_at).total_seconds()
            print(f"\norder {view.order_no}: recorded on B, claimed by A after {handover:.3f} s")
            log.warning("NOTIFY hand-over B → A: %.3f s", handover)

            # A killed: its agent and caller leave B's picture when its heartbeat expires
            a.send_signal(signal.SIGKILL)
            await a.wait()
            killed = time.monotonic()

            async def a_gone() -> bool:
                board = await dashboard()
                return board["bridges"] == ["bridge-b"] and not any(
                    w["queue"] == QUEUE for w in board["waiting"]
                )

            await until(a_gone, 20, "A's picture expired from B's")
            print(f"A's picture left B's {time.monotonic() - killed:.1f} s after SIGKILL")
            board = await dashboard()
            assert all(x["job_number"] != JOB for x in board["agents"])
            metrics = await (await web.get("/metrics", headers=sup)).text()
            assert gauge(metrics, "ivr_queue_waiting_callers", queue=QUEUE) is None
            await feed.close()
    finally:
        if a.returncode is None:
            a.send_signal(signal.SIGTERM)
            await asyncio.wait_for(a.wait(), 30)
        await log_out_agent(client, INTERFACE, [QUEUE])
        # the caller must not wait on in the queue for the next module's agents (hangs up
        # every leg entering this queue: the sandbox is this session's alone)
        with contextlib.suppress(AmiError):
            await client.action(
                {"Action": "Hangup", "Channel": f"/^Local/{QUEUE}@sim-queue-entry-/"}
            )
        await b.stop()


async def claim_of(bridge: Bridge, order_no: str) -> datetime | None:
    """When a dispatcher first claimed a call to a crew for the order, if one has."""
    async with bridge.engine.connect() as conn:
        job = (
            await conn.execute(
                select(DispatchJobRow.id).where(
                    DispatchJobRow.order_id == await order_id(bridge, order_no)
                )
            )
        ).scalar()
        if job is None:
            return None
        return (
            await conn.execute(
                select(DispatchCallRow.claimed_at)
                .where(DispatchCallRow.job_id == job)
                .order_by(DispatchCallRow.claimed_at)
                .limit(1)
            )
        ).scalar()


async def order_id(bridge: Bridge, order_no: str) -> int:
    async with bridge.engine.connect() as conn:
        return (
            await conn.execute(select(orders_table.c.id).where(orders_table.c.order_no == order_no))
        ).scalar_one()


def gauge(text: str, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return None
