"""Screen-pop latency: the workspace's WebSocket push against the dashboard's 1 s polling.

One ``ivr run`` process (SQLite, speech off) on the sandboxed Asterisk; ``--clients`` agents
each with a workspace connection (``GET /api/agents/me/events``), ``--answering`` of them logged
in as simulated agents (answer after 1 s, talk 2 s) to five queues (Asterisk serves one
queue's callers in turn); ``--calls`` callers arrive in them over ``--spread-s`` seconds. In
the same run, a supervisor's client polls ``/api/dashboard`` every second, as the dashboard
page does: **the baseline**.

For every ring (an ``AgentCalled``), latency = arrival at a client (this process's wall clock,
on the same machine as Asterisk) - the ``AgentCalled`` event's own timestamp, which the feed
carries as ``ring_started_ms``: for the push, the ``ringing`` message at the rung agent's
client; for polling, the first poll whose ``waiting[].ringing`` lists that agent for that
caller (a ring shorter than the gap between polls may never be seen: counted as missed).
Memory per client: the bridge process's resident set (``/proc/<pid>/status`` VmRSS) with every
client connected and idle, minus before the first, divided by the clients.

Run (as root; holds the sandbox; ~1 min): ``.venv/bin/python -m bench.pop_latency``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from ivr.asterisk.ami import AmiClient
from ivr.config import Settings
from ivr.db.engine import create_engine
from ivr.db.migrate import upgrade
from ivr.db.tokens import SqlTokenStore
from ivr.domain.access import Role
from ivr.domain.privacy import mask_number
from ivr_sandbox.asterisk import AmiEndpoint, AsteriskSandbox
from ivr_sandbox.simulation import SimulatedCaller, place_queue_call

# Asterisk serves one queue's callers one after the other (no autofill in the sandbox's
# queues): the calls are spread over five queues, each with its own answering agents.
QUEUES = ("q-t-1", "q-t-2", "q-t-3", "q-t-4", "q-t-5")
FIRST_JOB = 4001


@dataclass
class Results:
    rings: dict[tuple[str, str], int] = field(default_factory=dict)  # (masked, job) → ring ms
    push_ms: list[float] = field(default_factory=list)
    polled: dict[tuple[str, str], float] = field(default_factory=dict)  # first seen (ms)
    answered: int = 0
    polls: int = 0
    poll_errors: list[str] = field(default_factory=list)
    expected: int = 0
    all_answered: asyncio.Event = field(default_factory=asyncio.Event)
    readers: list[asyncio.Future[None]] = field(default_factory=list)


def pct(samples: list[float], q: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def start_bridge(db_url: str, ami: AmiEndpoint, logs: Path) -> tuple[Any, int]:
    from bench.callback_dialer import free_port, healthy

    web, agi = free_port(), free_port()
    env = os.environ | {
        "IVR_DATABASE__URL": db_url,
        "IVR_WEB__PORT": str(web),
        "IVR_AGI__PORT": str(agi),
        "IVR_SPEECH__RECOGNITION": "false",
        "IVR_AMI__HOST": ami.host,
        "IVR_AMI__PORT": str(ami.port),
        "IVR_AMI__USERNAME": ami.username,
        "IVR_AMI__SECRET": ami.secret,
        "IVR_SANDBOX__SIMULATED_AGENTS": "sim-agents",
        "IVR_ALERTS__WATCH": "false",
        "IVR_AGENTS__WRAPUP_S": "0",  # back to back: no after-call work between the calls
    }
    with (logs / "bridge.log").open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "ivr", "run", env=env, stderr=stderr
        )
    for _ in range(240):
        await asyncio.sleep(0.25)
        if await asyncio.to_thread(healthy, web):
            return process, web
        if process.returncode is not None:
            break
    raise RuntimeError(f"the bridge did not come up; see {logs / 'bridge.log'}")


async def client(
    session: aiohttp.ClientSession, token: str, job: str, results: Results
) -> aiohttp.ClientWebSocketResponse:
    ws = await session.ws_connect("/api/agents/me/events")
    await ws.send_json({"type": "auth", "token": token})
    hello = await ws.receive_json(timeout=30)
    if hello.get("type") != "hello":
        raise RuntimeError(f"client {job}: no hello ({hello})")

    async def read() -> None:
        async for message in ws:
            arrived = time.time() * 1000
            if message.type is not aiohttp.WSMsgType.TEXT:
                continue
            m = json.loads(message.data)
            if m["type"] == "ringing":
                card = m["call"]
                results.push_ms.append(arrived - card["ring_started_ms"])
                results.rings[(mask_number(card["caller"]), job)] = card["ring_started_ms"]
            elif m["type"] == "answered":
                results.answered += 1
                if results.answered >= results.expected:
                    results.all_answered.set()

    results.readers.append(asyncio.ensure_future(read()))
    return ws


async def poll(
    session: aiohttp.ClientSession, token: str, jobs_by_interface: dict[str, str], results: Results
) -> None:
    """The dashboard page's loop: GET /api/dashboard, then wait 1 s."""
    headers = {"Authorization": f"Bearer {token}"}
    while True:
        try:
            async with session.get("/api/dashboard", headers=headers) as response:
                data = await response.json()
        except Exception as exc:  # noted and reported: a baseline that failed measures nothing
            results.poll_errors.append(repr(exc))
            await asyncio.sleep(1.0)
            continue
        arrived = time.time() * 1000
        results.polls += 1
        for waiting in data["waiting"]:
            for interface in waiting["ringing"]:
                job = jobs_by_interface.get(interface)
                if job is not None:
                    results.polled.setdefault((waiting["caller"], job), arrived)
        await asyncio.sleep(1.0)


async def run(
    sandbox: AsteriskSandbox, clients: int, answering: int, calls: int, spread_s: float
) -> dict[str, float]:
    results = Results(expected=calls)
    jobs = [str(FIRST_JOB + i) for i in range(clients)]
    interfaces = {job: f"Local/{job}@sim-agents/n" for job in jobs}
    queue_of = {job: QUEUES[i % len(QUEUES)] for i, job in enumerate(jobs)}
    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite+aiosqlite:///{Path(tmp) / 'pop.db'}"
        await upgrade(db_url)
        engine = create_engine(db_url)
        tokens = SqlTokenStore(engine)
        tag = uuid.uuid4().hex[:6]
        supervisor = await tokens.create(f"bench-sup-{tag}", Role.SUPERVISOR)
        agent_tokens = {j: await tokens.create(f"bench-{j}-{tag}", Role.AGENT, j) for j in jobs}
        await engine.dispose()
        ami_endpoint = sandbox.ami
        ami = AmiClient(
            ami_endpoint.host, ami_endpoint.port, ami_endpoint.username, ami_endpoint.secret
        )
        await ami.connect()
        process, port = await start_bridge(db_url, ami_endpoint, Path(tmp))
        sup = {"Authorization": f"Bearer {supervisor}"}
        sockets: list[aiohttp.ClientWebSocketResponse] = []
        tasks: list[asyncio.Task[None]] = []
        try:
            base = f"http://127.0.0.1:{port}"
            # no connection limit (aiohttp's default of 100 would leave the poller waiting
            # behind 100 WebSockets), and the poller on a session of its own, like a browser tab
            async with (
                aiohttp.ClientSession(base, connector=aiohttp.TCPConnector(limit=0)) as session,
                aiohttp.ClientSession(base) as dashboard,
            ):
                for job in jobs:
                    body = {
                        "name": f"bench {job}",
                        "interface": interfaces[job],
                        "skills": [queue_of[job]],
                    }
                    async with session.put(f"/api/agents/{job}", json=body, headers=sup) as r:
                        if r.status != 200:
                            raise RuntimeError(f"agent {job}: {r.status} {await r.text()}")
                for job in jobs[:answering]:
                    for name, value in (
                        (f"SIM_AGENT_DELAY_{job}", "1"),
                        (f"SIM_AGENT_TALK_{job}", "2"),
                    ):
                        await ami.action({"Action": "Setvar", "Variable": name, "Value": value})
                    async with session.post(f"/api/agents/{job}/login", headers=sup) as r:
                        if r.status != 200:
                            raise RuntimeError(f"login {job}: {r.status} {await r.text()}")
                await asyncio.sleep(2)  # the members added, the bridge told by AMI
                before = rss_kib(process.pid)
                for job in jobs:
                    sockets.append(await client(session, agent_tokens[job], job, results))
                await asyncio.sleep(3)  # idle, connected
                after = rss_kib(process.pid)
                by_interface = {i: j for j, i in interfaces.items()}
                tasks.append(
                    asyncio.ensure_future(poll(dashboard, supervisor, by_interface, results))
                )
                for i in range(calls):
                    number = f"1350000{i:04d}"
                    caller = SimulatedCaller(number, pause_s=0, hold_s=30)
                    await place_queue_call(ami, caller, QUEUES[i % len(QUEUES)])
                    await asyncio.sleep(spread_s / max(calls, 1))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(results.all_answered.wait(), 120)
                await asyncio.sleep(1.5)
        finally:
            for task in [*tasks, *results.readers]:
                task.cancel()
            for ws in sockets:
                await ws.close()
            for job in jobs[:answering]:
                await ami.queue_remove(queue_of[job], interfaces[job])
            await ami.close()
            process.terminate()
            await process.wait()
    polled = [
        seen - results.rings[key] for key, seen in results.polled.items() if key in results.rings
    ]
    missed = len([k for k in results.rings if k not in results.polled])
    figures = {
        "clients": clients,
        "calls": calls,
        "rings": len(results.push_ms),
        "rung_pairs": len(results.rings),  # (caller, agent) pairs: what polling can see
        "answered": results.answered,
        "push_p50_ms": pct(results.push_ms, 50),
        "push_p99_ms": pct(results.push_ms, 99),
        "push_max_ms": max(results.push_ms, default=float("nan")),
        "poll_p50_ms": pct(polled, 50),
        "poll_p99_ms": pct(polled, 99),
        "poll_seen": len(polled),
        "poll_missed": missed,
        "rss_per_client_kib": (after - before) / clients,
        "polls": results.polls,
        "poll_errors": len(results.poll_errors),
    }
    print(report(figures))
    return figures


def report(f: dict[str, float]) -> str:
    ratio50 = f["poll_p50_ms"] / f["push_p50_ms"] if f["push_p50_ms"] > 0 else float("nan")
    ratio99 = f["poll_p99_ms"] / f["push_p99_ms"] if f["push_p99_ms"] > 0 else float("nan")
    lines = [
        f"pop latency: {f['clients']:.0f} connected clients, {f['calls']:.0f} calls,"
        f" {f['rings']:.0f} rings, {f['answered']:.0f} answered"
        f" (load average {os.getloadavg()[0]:.1f})",
        f"{'':28}{'p50 ms':>10}{'p99 ms':>10}{'rings':>8}",
        f"{'push (WebSocket)':28}{f['push_p50_ms']:>10.1f}{f['push_p99_ms']:>10.1f}"
        f"{f['rings']:>8.0f}",
        f"{'dashboard 1 s polling':28}{f['poll_p50_ms']:>10.1f}{f['poll_p99_ms']:>10.1f}"
        f"{f['poll_seen']:>8.0f}  (+{f['poll_missed']:.0f} rings never seen)",
        f"polling / push: p50 {ratio50:.0f}x, p99 {ratio99:.0f}x;"
        f" push max {f['push_max_ms']:.1f} ms",
        f"bridge memory per connected client: {f['rss_per_client_kib']:.1f} KiB (VmRSS);"
        f" {f['polls']:.0f} polls, {f['poll_errors']:.0f} failed",
    ]
    return "\n".join(lines)


async def main(clients: int, answering: int, calls: int, spread_s: float) -> dict[str, float]:
    sandbox = AsteriskSandbox.from_settings(Settings())
    with sandbox.exclusive():
        await asyncio.to_thread(sandbox.up)
        return await run(sandbox, clients, answering, calls, spread_s)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=100, help="connected agent clients")
    parser.add_argument("--answering", type=int, default=25, help="of them in the queue")
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--spread-s", type=float, default=10.0, help="calls arrive over this")
    args = parser.parse_args()
    asyncio.run(main(args.clients, args.answering, args.calls, args.spread_s))
